// Golden-structure tests of the files RenderJobArtifacts writes for a short synthetic job:
// job.json, losses.json, manifest.json and README.md (the figures have plot_test.cc, the zip
// zip_test.cc). Each JSON file is checked key by key for presence and type, and the README for
// the manifest's numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "core/analysis.h"
#include "core/blas.h"
#include "core/init.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "nlohmann/json.hpp"
#include "server/artifacts/artifacts.h"
#include "server/artifacts/format.h"
#include "server/artifacts/losses_json.h"
#include "server/artifacts/manifest.h"
#include "proto/sha256.h"
#include "tests/server/artifacts/test_jobs.h"

namespace ablate::artifacts {
namespace {

using nlohmann::json;
using testing::Decay;
using testing::FakeRun;
using testing::LabSpec;
using testing::MakeJobData;
using testing::MakeRun;
using testing::ThenNaN;

HostInfo TestHost(std::optional<std::string> governor = "performance") {
  HostInfo host;
  host.hostname = "lab-pc";
  host.os = "Linux 6.1.0 x86_64";
  host.cpu_model = "Test CPU @ 3.0GHz";
  host.logical_cpus = 8;
  host.memory_bytes = int64_t{16} << 30;
  host.cpu_governor = governor;
  host.cpu_governor_source = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor";
  if (!governor) host.cpu_governor_error = "scaling_governor cannot be read (No such file)";
  return host;
}

BuildInfo TestBuild() {
  BuildInfo build = ThisBuild();
  build.git_commit = "0123456789abcdef0123456789abcdef01234567";
  return build;
}

const absl::Time kGenerated = absl::FromUnixSeconds(1714568400);  // 2024-05-01T13:00:00Z

// The files of `data`, by name.
std::map<std::string, store::Artifact> Render(const JobData& data,
                                              const HostInfo& host = TestHost()) {
  absl::StatusOr<std::vector<store::Artifact>> files =
      RenderJobArtifacts(data, TestBuild(), host, kGenerated);
  EXPECT_TRUE(files.ok()) << files.status();
  std::map<std::string, store::Artifact> by_name;
  if (files.ok()) {
    for (store::Artifact& f : *files) by_name[f.name] = std::move(f);
  }
  return by_name;
}

json Parse(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(value.is_discarded()) << "not JSON: " << text.substr(0, 200);
  return value;
}

// `value[key]` exists and has the given JSON type.
#define EXPECT_KEY(value, key, type_check)                                            \
  do {                                                                                \
    ASSERT_TRUE((value).contains(key)) << "missing " << (key);                        \
    EXPECT_TRUE((value)[key].type_check()) << (key) << " is " << (value)[key].dump(); \
  } while (0)

bool IntOrNull(const json& v) { return v.is_null() || v.is_number_integer(); }
bool NumberOrNull(const json& v) { return v.is_null() || v.is_number(); }

TEST(FilesTest, RendersEveryFileInOrderWithItsSha256) {
  absl::StatusOr<std::vector<store::Artifact>> files =
      RenderJobArtifacts(testing::LabLikeJob(), TestBuild(), TestHost(), kGenerated);
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<std::string> names;
  for (const store::Artifact& f : *files) {
    names.push_back(f.name);
    EXPECT_EQ(f.sha256, Sha256Hex(f.data)) << f.name;
    EXPECT_EQ(f.sha256.size(), 64u);
    EXPECT_FALSE(f.content_type.empty());
  }
  // LabLikeJob's headline is linear: the log scale is the other figure.
  EXPECT_EQ(names, (std::vector<std::string>{"job.json", "losses.json", "loss_curves.png",
                                             "loss_curves_log.png", "layer_stats.png",
                                             "README.md", "manifest.json"}));
  // In the order kRenderedFiles gives (bundle.zip zips them in it).
  std::vector<std::string> ordered;
  for (const char* name : kRenderedFiles) {
    if (std::find(names.begin(), names.end(), name) != names.end()) ordered.push_back(name);
  }
  EXPECT_EQ(ordered, names);
}

TEST(FilesTest, Sha256IsTheStandardDigest) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(FilesTest, HeadlineFigureIsTheMoreInformativeScaleAndTheOtherScaleDiffers) {
  // LabLikeJob's plotted losses span 1.5 decades: linear, with the log figure beside it.
  auto files = Render(testing::LabLikeJob());
  EXPECT_EQ(files.count("loss_curves_linear.png"), 0u);
  ASSERT_EQ(files.count("loss_curves_log.png"), 1u);
  EXPECT_NE(files["loss_curves.png"].data, files["loss_curves_log.png"].data);
  EXPECT_EQ(Parse(files["manifest.json"].data)["plot"]["scale"], "linear");
  EXPECT_TRUE(files["README.md"].data.find("`loss_curves_log.png` shows the other scale") !=
              std::string::npos);
  // Kaiming down to 1e-4: four decades, log.
  JobData wide = testing::LabLikeJob();
  for (float& v : wide.trajectories[2].losses) v = v * v * v;
  files = Render(wide);
  EXPECT_EQ(files.count("loss_curves_log.png"), 0u);
  ASSERT_EQ(files.count("loss_curves_linear.png"), 1u);
  EXPECT_NE(files["loss_curves.png"].data, files["loss_curves_linear.png"].data);
  EXPECT_EQ(Parse(files["manifest.json"].data)["plot"]["scale"], "log");
}

TEST(JobJsonTest, IsTheResolvedSpecAsTheClientReadsIt) {
  const JobData data = testing::LabLikeJob();
  auto files = Render(data);
  v1::JobSpec parsed;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // as `ablate submit --spec` parses it
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(files["job.json"].data, &parsed, options).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, data.job.spec()))
      << parsed.DebugString();
}

TEST(LossesJsonTest, HasTheDocumentedSchema) {
  const JobData data = testing::LabLikeJob(7, 60, 2);
  const json root = Parse(Render(data)["losses.json"].data);
  EXPECT_EQ(root["schema"], kLossesSchema);
  EXPECT_KEY(root, "format", is_string);
  EXPECT_EQ(root["job_id"], 7);
  EXPECT_KEY(root, "job_name", is_string);
  EXPECT_EQ(root["steps_planned"], 60);
  EXPECT_NEAR(root["chance_loss"].get<double>(), std::log(2.0), 1e-12);
  ASSERT_TRUE(root["runs"].is_array());
  ASSERT_EQ(root["runs"].size(), 3u);
  std::set<std::string> labels;
  for (size_t i = 0; i < 3; ++i) {
    const json& run = root["runs"][i];
    EXPECT_EQ(run["run_id"], data.job.runs(static_cast<int>(i)).id());
    EXPECT_EQ(run["index"], i);
    EXPECT_KEY(run, "label", is_string);
    labels.insert(run["label"].get<std::string>());
    EXPECT_KEY(run, "init", is_string);
    EXPECT_KEY(run, "formula", is_string);
    EXPECT_KEY(run, "weight_seed", is_number_unsigned);
    EXPECT_KEY(run, "outcome", is_string);
    EXPECT_KEY(run, "steps", is_number_integer);
    EXPECT_KEY(run, "losses", is_array);
    EXPECT_EQ(run["steps"], run["losses"].size());
    for (const json& v : run["losses"]) EXPECT_TRUE(v.is_null() || v.is_number()) << v;
    ASSERT_TRUE(run.contains("first_nonfinite_step"));
    EXPECT_TRUE(IntOrNull(run["first_nonfinite_step"]));
    EXPECT_KEY(run, "nonfinite", is_object);
    for (const auto& [step, kind] : run["nonfinite"].items()) {
      EXPECT_TRUE(kind == "nan" || kind == "inf" || kind == "-inf") << kind;
      EXPECT_TRUE(run["losses"][std::stoi(step)].is_null());
    }
    ASSERT_TRUE(run.contains("flatline_step"));
    EXPECT_TRUE(IntOrNull(run["flatline_step"]));
    EXPECT_KEY(run, "evals", is_array);
    for (const json& e : run["evals"]) {
      EXPECT_KEY(e, "step", is_number_integer);
      EXPECT_TRUE(NumberOrNull(e["loss"]));
      EXPECT_TRUE(NumberOrNull(e["accuracy"]));
    }
  }
  EXPECT_EQ(labels.size(), 3u);
  const json& uniform = root["runs"][0];
  EXPECT_EQ(uniform["init"], "uniform");
  EXPECT_EQ(uniform["formula"], "U[-0.5, 0.5]");
  EXPECT_EQ(uniform["first_nonfinite_step"], 2);
  EXPECT_EQ(uniform["nonfinite"], json({{"2", "nan"}}));
  EXPECT_TRUE(uniform["losses"][2].is_null());
  EXPECT_EQ(uniform["losses"][0], 1e12);
  EXPECT_TRUE(root["runs"][1]["first_nonfinite_step"].is_null());
  EXPECT_EQ(root["runs"][1]["evals"].size(), 3u);  // steps 20, 40, 60
}

TEST(LossesJsonTest, ReadsBackAsExactlyTheRecordedFloats) {
  const JobData data = testing::LabLikeJob(7, 200, 2);
  const json root = Parse(Render(data)["losses.json"].data);
  for (size_t r = 0; r < data.trajectories.size(); ++r) {
    const std::vector<float>& losses = data.trajectories[r].losses;
    const json& written = root["runs"][r]["losses"];
    ASSERT_EQ(written.size(), losses.size());
    for (size_t s = 0; s < losses.size(); ++s) {
      if (!std::isfinite(losses[s])) continue;
      const float back = static_cast<float>(written[s].get<double>());
      EXPECT_EQ(std::memcmp(&back, &losses[s], sizeof(float)), 0)
          << "run " << r << " step " << s << ": " << written[s] << " vs " << losses[s];
    }
  }
}

TEST(LossesJsonTest, KeepsEveryKindOfNonFiniteLossAndRepeatedInitsApart) {
  v1::JobSpec spec = LabSpec(8);
  spec.mutable_training()->set_stop_on_nonfinite(false);
  std::vector<float> wild = {0.7f,          0.8f,           5.0f, testing::kInf,
                             testing::kNaN, -testing::kInf, 3.0f, 2.0f};
  const json root = Parse(Render(MakeJobData(
      3, spec,
      {MakeRun("kaiming", 1, wild), MakeRun("kaiming", 2, Decay(8, 0.7f, 0.5f))}))["losses.json"]
                              .data);
  const json& run = root["runs"][0];
  EXPECT_EQ(run["label"], "kaiming (run 300)");
  EXPECT_EQ(root["runs"][1]["label"], "kaiming (run 301)");
  EXPECT_EQ(run["first_nonfinite_step"], 3);
  EXPECT_EQ(run["nonfinite"], json({{"3", "inf"}, {"4", "nan"}, {"5", "-inf"}}));
  EXPECT_EQ(run["steps"], 8);
  EXPECT_EQ(run["losses"][6], 3.0);
}

TEST(LossesJsonTest, LayoutIsPinnedByteForByte) {
  // Two runs: one that diverged (an infinite and a NaN loss, no validation), one with a
  // flatline step and two validations, the second of them not finite.
  v1::Job job;
  job.set_id(5);
  job.set_name("lab \"tiny\"");
  job.mutable_spec()->mutable_training()->set_steps(4);
  JobSummary summary;
  summary.job = &job;
  summary.chance = std::log(2.0);
  RunSummary& uniform = summary.runs.emplace_back();
  uniform.run_id = 500;
  uniform.index = 0;
  uniform.label = uniform.init = "uniform";
  uniform.formula = "U[-0.5, 0.5]";
  uniform.weight_seed = 101;
  uniform.data_seed = 1;
  uniform.outcome = "diverged at step 2";
  uniform.losses = {1e12f, 350215.2f, testing::kInf, testing::kNaN};
  uniform.first_nonfinite_step = 2;
  uniform.nonfinite = {{2, "inf"}, {3, "nan"}};
  RunSummary& kaiming = summary.runs.emplace_back();
  kaiming.run_id = 501;
  kaiming.index = 1;
  kaiming.label = kaiming.init = "kaiming";
  kaiming.formula = "N(0, 2/n_in)";
  kaiming.weight_seed = 102;
  kaiming.data_seed = 2;
  kaiming.outcome = "completed 4 steps";
  kaiming.losses = {0.6931472f, 0.25f, 1e-5f, 12.5f};
  kaiming.flatline_step = 3;
  for (const auto& [step, loss, accuracy] :
       {std::tuple{2, 0.61f, 0.7f}, std::tuple{4, testing::kNaN, testing::kNaN}}) {
    v1::EvalResult& e = kaiming.evals.emplace_back();
    e.set_step(step);
    e.set_loss(loss);
    e.set_accuracy(accuracy);
  }

  const std::string text = RenderLossesJson(summary);
  EXPECT_EQ(text, R"json({
  "schema": "ablate.losses/1",
  "format": "losses[s] is run's mean training cross-entropy at step s (after s updates), a float32 written as the shortest decimal that reads back as it; null where it was NaN or infinite, and nonfinite maps each such step to \"nan\", \"inf\" or \"-inf\". evals are validation results after `step` updates. Runs are in spec order; label is unique within the file.",
  "job_id": 5,
  "job_name": "lab \"tiny\"",
  "steps_planned": 4,
  "chance_loss": 0.6931471805599453,
  "runs": [
    {
      "run_id": 500,
      "index": 0,
      "label": "uniform",
      "init": "uniform",
      "formula": "U[-0.5, 0.5]",
      "weight_seed": 101,
      "data_seed": 1,
      "outcome": "diverged at step 2",
      "steps": 4,
      "losses": [1000000000000.0,350215.2,null,null],
      "first_nonfinite_step": 2,
      "nonfinite": {
        "2": "inf",
        "3": "nan"
      },
      "flatline_step": null,
      "evals": []
    },
    {
      "run_id": 501,
      "index": 1,
      "label": "kaiming",
      "init": "kaiming",
      "formula": "N(0, 2/n_in)",
      "weight_seed": 102,
      "data_seed": 2,
      "outcome": "completed 4 steps",
      "steps": 4,
      "losses": [0.6931472,0.25,1e-05,12.5],
      "first_nonfinite_step": null,
      "nonfinite": {},
      "flatline_step": 3,
      "evals": [
        {
          "step": 2,
          "loss": 0.61,
          "accuracy": 0.7
        },
        {
          "step": 4,
          "loss": null,
          "accuracy": null
        }
      ]
    }
  ]
}
)json");

  const json root = Parse(text);
  ASSERT_EQ(root["runs"].size(), summary.runs.size());
  for (size_t r = 0; r < summary.runs.size(); ++r) {
    const std::vector<float>& losses = summary.runs[r].losses;
    const json& written = root["runs"][r]["losses"];
    ASSERT_EQ(written.size(), losses.size());
    for (size_t s = 0; s < losses.size(); ++s) {
      if (!std::isfinite(losses[s])) {
        EXPECT_TRUE(written[s].is_null()) << "run " << r << " step " << s;
        continue;
      }
      const float back = static_cast<float>(written[s].get<double>());
      EXPECT_EQ(std::memcmp(&back, &losses[s], sizeof(float)), 0)
          << "run " << r << " step " << s << ": " << written[s] << " vs " << losses[s];
    }
  }
  EXPECT_EQ(static_cast<float>(root["runs"][1]["evals"][0]["loss"].get<double>()), 0.61f);

  // A job without runs: an empty array.
  summary.runs.clear();
  EXPECT_TRUE(absl::EndsWith(RenderLossesJson(summary),
                             "\"chance_loss\": 0.6931471805599453,\n  \"runs\": []\n}\n"));
}

TEST(ManifestTest, HasTheStandardFieldsWithTheirTypes) {
  const JobData data = testing::LabLikeJob(7, 60, 2);
  auto files = Render(data);
  const json m = Parse(files["manifest.json"].data);
  EXPECT_EQ(m["schema"], kManifestSchema);
  EXPECT_EQ(m["generated_at"], "2024-05-01T13:00:00+00:00");
  // The job, its owner and its times.
  EXPECT_EQ(m["job"]["id"], 7);
  EXPECT_EQ(m["job"]["owner"], "ada");
  EXPECT_EQ(m["job"]["created_at"], "2024-05-01T12:00:00+00:00");
  // Not finished in the store yet: the end of its last run.
  EXPECT_EQ(m["job"]["finished_at"], "2024-05-01T12:00:04+00:00");
  // Ablate and the build.
  EXPECT_EQ(m["ablate"]["git_commit"], "0123456789abcdef0123456789abcdef01234567");
  EXPECT_KEY(m["ablate"], "version", is_string);
  EXPECT_FALSE(m["ablate"]["version"].get<std::string>().empty());
  for (const char* key :
       {"compiler", "flags", "build_type", "eigen_version", "matrix_products", "libraries"}) {
    EXPECT_KEY(m["build"], key, is_string);
  }
  EXPECT_EQ(m["build"]["eigen_version"].get<std::string>().substr(0, 2), "3.");
  EXPECT_EQ(m["build"]["matrix_products"], core::BlasDescription());
  // The host.
  EXPECT_EQ(m["host"]["cpu_model"], "Test CPU @ 3.0GHz");
  EXPECT_EQ(m["host"]["logical_cpus"], 8);
  EXPECT_EQ(m["host"]["memory_bytes"], int64_t{16} << 30);
  EXPECT_EQ(m["host"]["cpu_governor"], "performance");
  EXPECT_TRUE(m["host"]["cpu_governor_error"].is_null());
  EXPECT_EQ(m["warnings"], json::array());
  // The full spec, and the seeds.
  v1::JobSpec spec;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(m["spec"].dump(), &spec).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(spec, data.job.spec()));
  EXPECT_EQ(m["seeds"]["data"], 1);
  EXPECT_EQ(m["seeds"]["weights"], json({{"700", 101}, {"701", 102}, {"702", 103}}));
  // Per run: outcome, timing, per-layer init variance.
  ASSERT_EQ(m["runs"].size(), 3u);
  for (const json& run : m["runs"]) {
    for (const char* key : {"run_id", "index", "weight_seed", "steps_recorded"}) {
      EXPECT_KEY(run, key, is_number_integer);
    }
    for (const char* key : {"label", "init", "formula", "state", "outcome", "verdict"}) {
      EXPECT_KEY(run, key, is_string);
    }
    const json& t = run["timing"];
    for (const char* key : {"total_step_seconds", "median_step_seconds", "p95_step_seconds",
                            "steps_per_second", "run_seconds"}) {
      EXPECT_KEY(t, key, is_number);
    }
    EXPECT_LE(t["median_step_seconds"].get<double>(), t["p95_step_seconds"].get<double>());
    ASSERT_EQ(run["init_stats"].size(), 12u);
    for (const json& layer : run["init_stats"]) {
      EXPECT_KEY(layer, "weight_variance", is_number);
      EXPECT_KEY(layer, "expected_weight_variance", is_number);
      EXPECT_KEY(layer, "fan_in", is_number_integer);
    }
    EXPECT_TRUE(run["init_stats"][11]["relu_variance_gain"].is_null());  // the last layer
  }
  EXPECT_EQ(m["runs"][0]["outcome"], "diverged at step 2");
  EXPECT_NEAR(m["runs"][0]["init_stats"][0]["weight_variance"].get<double>(), 1.0 / 12, 1e-12);
  EXPECT_NEAR(m["runs"][0]["init_stats"][0]["relu_variance_gain"].get<double>(), 256.0 / 24, 1e-12);
  EXPECT_NEAR(m["runs"][1]["timing"]["median_step_seconds"].get<double>(), 0.010, 1e-6);
  EXPECT_NEAR(m["runs"][1]["timing"]["p95_step_seconds"].get<double>(), 0.011, 1e-6);
  // The checks, every one evaluated.
  ASSERT_EQ(m["checks"].size(), 4u);
  for (const json& c : m["checks"]) {
    EXPECT_KEY(c, "id", is_string);
    EXPECT_KEY(c, "criterion", is_string);
    EXPECT_KEY(c, "fired", is_boolean);
    EXPECT_FALSE(c["fired"].get<bool>()) << c.dump();
  }
  EXPECT_KEY(m, "definitions", is_object);
}

TEST(ManifestTest, ResultsSummaryHoldsTheLabsNumbers) {
  const JobData data = testing::LabLikeJob(7, 300, 2);
  const json r = Parse(Render(data)["manifest.json"].data)["results_summary"];
  EXPECT_EQ(r["steps_to_nan_uniform"], 2);
  EXPECT_TRUE(r["flatline_step_uniform"].is_null());
  EXPECT_EQ(static_cast<float>(r["final_loss_xavier"].get<double>()),
            data.trajectories[1].losses.back());
  EXPECT_EQ(static_cast<float>(r["final_loss_kaiming"].get<double>()),
            data.trajectories[2].losses.back());
  EXPECT_DOUBLE_EQ(r["xavier_slope_last200"].get<double>(),
                   *core::TailSlope(data.trajectories[1].losses, 200));
  EXPECT_KEY(r, "xavier_status", is_string);
  EXPECT_EQ(r["lab_expectation"]["met"], true);
  ASSERT_EQ(r["runs"].size(), 3u);
  EXPECT_TRUE(r["runs"][0]["final_val_loss"].is_null());  // diverged: no final validation
  EXPECT_EQ(static_cast<float>(r["runs"][2]["final_val_loss"].get<double>()), 0.05f);
  EXPECT_EQ(static_cast<float>(r["runs"][2]["final_val_accuracy"].get<double>()), 0.985f);
  ASSERT_EQ(r["depth_prediction"].size(), 3u);
  EXPECT_EQ(r["depth_prediction"][0]["regime"], "explodes");
  EXPECT_EQ(r["depth_prediction"][1]["deeper_variance_ratio"], std::pow(0.5, 23));
  EXPECT_EQ(r["notes"], json::array());
}

TEST(ManifestTest, Sha256sMatchTheOtherFiles) {
  auto files = Render(testing::LabLikeJob());
  const json listed = Parse(files["manifest.json"].data)["files"];
  EXPECT_EQ(listed.size(), 6u);  // all but the manifest itself
  for (const auto& [name, entry] : listed.items()) {
    ASSERT_TRUE(files.count(name)) << name;
    EXPECT_EQ(entry["sha256"], Sha256Hex(files[name].data)) << name;
    EXPECT_EQ(entry["sha256"], files[name].sha256) << name;
    EXPECT_EQ(entry["bytes"], files[name].data.size()) << name;
  }
  EXPECT_FALSE(listed.contains("manifest.json"));
  EXPECT_FALSE(listed.contains("bundle.zip"));
}

TEST(ManifestTest, NullsWhatTheJobDoesNotHaveAndSaysWhy) {
  {
    const json r =
        Parse(Render(testing::NothingDivergesJob())["manifest.json"].data)["results_summary"];
    EXPECT_TRUE(r["steps_to_nan_uniform"].is_null());
    EXPECT_EQ(r["flatline_step_uniform"], 12);
    EXPECT_NE(r["notes"].dump().find("uniform run's losses are all finite"), std::string::npos)
        << r["notes"];
  }
  {
    const json r = Parse(Render(MakeJobData(
        4, LabSpec(30), {MakeRun("kaiming", 1, Decay(30, 0.7f, 0.1f))}))["manifest.json"]
                             .data)["results_summary"];
    EXPECT_TRUE(r["steps_to_nan_uniform"].is_null());
    EXPECT_TRUE(r["final_loss_xavier"].is_null());
    EXPECT_TRUE(r["xavier_slope_last200"].is_null());
    EXPECT_TRUE(r["lab_expectation"].is_null());
    EXPECT_TRUE(r["final_loss_kaiming"].is_number());
    EXPECT_NE(r["notes"].dump().find("no uniform run"), std::string::npos);
    EXPECT_NE(r["notes"].dump().find("no xavier run"), std::string::npos);
  }
}

TEST(ManifestTest, WarnsWhenTheGovernorIsNotPerformance) {
  {
    const json m =
        Parse(Render(testing::LabLikeJob(), TestHost("powersave"))["manifest.json"].data);
    EXPECT_EQ(m["host"]["cpu_governor"], "powersave");
    ASSERT_EQ(m["warnings"].size(), 1u);
    EXPECT_NE(m["warnings"][0].get<std::string>().find("\"powersave\", not \"performance\""),
              std::string::npos);
  }
  {
    auto files = Render(testing::LabLikeJob(), TestHost(std::nullopt));
    const json m = Parse(files["manifest.json"].data);
    EXPECT_TRUE(m["host"]["cpu_governor"].is_null());
    EXPECT_EQ(m["host"]["cpu_governor_error"], "scaling_governor cannot be read (No such file)");
    ASSERT_EQ(m["warnings"].size(), 1u);
    EXPECT_NE(m["warnings"][0].get<std::string>().find("governor is unknown"), std::string::npos);
    EXPECT_NE(files["README.md"].data.find("governor is unknown"), std::string::npos);
  }
}

// --- README.md ------------------------------------------------------------------------------

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ReadmeTest, HoldsTheManifestsNumbers) {
  auto files = Render(testing::LabLikeJob(7, 300, 2));
  const std::string& readme = files["README.md"].data;
  const json r = Parse(files["manifest.json"].data)["results_summary"];
  // The answers' numbers, written exactly as the manifest writes them.
  EXPECT_TRUE(Contains(readme, "first NaN came at **step 2**")) << readme;
  EXPECT_TRUE(Contains(readme, "steps_to_nan_uniform = 2"));
  // Losses in prose to 4 significant digits; the manifest keeps every bit.
  EXPECT_TRUE(Contains(readme, absl::StrFormat("**%.4g**", r["final_loss_xavier"].get<double>())))
      << readme;
  EXPECT_TRUE(Contains(readme, absl::StrFormat("**%.4g**", r["final_loss_kaiming"].get<double>())))
      << readme;
  EXPECT_TRUE(Contains(
      readme, absl::StrFormat("**%.3g per step**", r["xavier_slope_last200"].get<double>())))
      << readme;
  EXPECT_TRUE(Contains(readme, "Xavier is **" + r["xavier_status"].get<std::string>() + "**"));
  EXPECT_TRUE(Contains(readme, "at step " + r["kaiming_step_at_xavier_final"].dump()));
  // The four questions and the sections.
  for (const char* part : {"## What was trained", "## What happened", "## Answers", "## Checks",
                           "\n1. **", "\n2. **", "\n3. **", "\n4. **"}) {
    EXPECT_TRUE(Contains(readme, part)) << part;
  }
  // What was trained: model, data, optimizer, seeds.
  for (const char* part :
       {"12-layer MLP", "256→256, 10 × 256→256, 256→2", "1000 training", "momentum 0.9",
        "learning rate 0.001", "batch 64", "data seed 1", "uniform U[-0.5, 0.5] (seed 101)",
        "xavier N(0, 1/n_in) (seed 102)", "kaiming N(0, 2/n_in) (seed 103)"}) {
    EXPECT_TRUE(Contains(readme, part)) << part;
  }
  // The depth prediction, computed from the core's variance gains.
  const core::InitConfig lab_uniform;
  const double gain =
      core::ReluVarianceGain(*core::FindInitScheme("uniform"), 256, 256, lab_uniform);
  EXPECT_TRUE(Contains(
      readme, absl::StrFormat("%.3g^23 ≈ %.3g", gain, core::StackedVarianceGain(gain, 23))))
      << readme;
  EXPECT_TRUE(Contains(readme, "0.5^23 ≈ 1.19e-07"));
  EXPECT_TRUE(Contains(readme, "On the training loss this is the outcome the lab expects"));
  EXPECT_TRUE(Contains(readme, "None of the lab's pitfall checks fired"));
}

// A run that fit its training set and classifies most unseen examples overfits; the README
// does not call it memorising.
TEST(ReadmeTest, SaysARunOverfitsWhenItsValidationAccuracyIsWellAboveChance) {
  JobData data = testing::MemorisingJob();
  data.job.mutable_runs(2)->mutable_final_eval()->set_accuracy(0.79f);
  auto files = Render(data);
  const std::string& readme = files["README.md"].data;
  EXPECT_EQ(Parse(files["manifest.json"].data)["runs"][2]["generalisation"], "overfits");
  EXPECT_TRUE(Contains(readme, "accuracy 79%: it **overfits**: its validation accuracy is well "
                               "above chance (50%), so it learned much of the rule"))
      << readme;
  EXPECT_TRUE(Contains(readme, "On the validation set, kaiming **overfits**")) << readme;
  EXPECT_FALSE(Contains(readme, "memorises")) << readme;
}

// A run of fewer steps than two of the verdict's windows is not compared with itself ("its
// last 2 steps are only 0% below its first 2's"), and when every run stopped early the step
// indexing names no step beyond them (it said "step 999" of runs that ended at steps 1-54).
TEST(ReadmeTest, ShortAndStoppedRunsAreDescribedWithTheirOwnSteps) {
  const std::string short_job = Render(testing::LabLikeJob(7, /*steps=*/2, /*nan_step=*/1))
                                    ["README.md"].data;
  EXPECT_TRUE(Contains(short_job, "2 steps are too few to compare its first 2 with its last 2"))
      << short_job;
  EXPECT_FALSE(Contains(short_job, "below its first 2's")) << short_job;

  JobData all_diverged = MakeJobData(
      12, testing::LabSpec(1000),
      {MakeRun("uniform", 101, ThenNaN({3.0f})), MakeRun("xavier", 102, ThenNaN(Decay(53, 0.7f, 5.0f))),
       MakeRun("kaiming", 103, ThenNaN({0.7f, 9.0f, 80.0f}))});
  const std::string readme = Render(all_diverged)["README.md"].data;
  EXPECT_FALSE(Contains(readme, "step 999")) << readme;
  EXPECT_FALSE(Contains(readme, "step 1000)")) << readme;
  EXPECT_TRUE(Contains(readme, "a run's last loss comes before its last update")) << readme;
}

// A validation of NaN outputs measured no accuracy: null in the files and "n/a" in the text,
// not the 0% its comparisons count.
TEST(FilesTest, AValidationWithANonFiniteLossHasNoAccuracy) {
  FakeRun uniform = MakeRun("uniform", 101, Decay(60, 3.0f, 9.0f));
  uniform.val_loss = testing::kNaN;
  uniform.val_accuracy = 0.0f;
  JobData data = MakeJobData(13, testing::LabSpec(60),
                             {uniform, MakeRun("xavier", 102, Decay(60, 0.7f, 0.6f)),
                              MakeRun("kaiming", 103, Decay(60, 0.7f, 0.02f))});
  auto files = Render(data);
  const json losses = Parse(files["losses.json"].data);
  const json& last = losses["runs"][0]["evals"].back();
  EXPECT_TRUE(last["loss"].is_null()) << last;
  EXPECT_TRUE(last["accuracy"].is_null()) << last;
  const json manifest = Parse(files["manifest.json"].data);
  const json& summary_run = manifest["results_summary"]["runs"][0];
  EXPECT_TRUE(summary_run["final_val_accuracy"].is_null()) << summary_run;
  const std::string& readme = files["README.md"].data;
  EXPECT_FALSE(Contains(readme, "accuracy 0%")) << readme;
  EXPECT_TRUE(Contains(readme, "accuracy n/a")) << readme;
}

// Five validation examples decide nothing: a coin scores 50% ± 22% on them. It said
// "generalises" from them, with no caveat.
TEST(ReadmeTest, AValidationSetTooSmallToTellGivesNoGeneralisationVerdict) {
  v1::JobSpec spec = LabSpec(60);
  spec.mutable_data()->set_val_size(5);
  FakeRun x = MakeRun("xavier", 102, Decay(60, 0.693f, 0.6f));
  x.val_loss = 0.5f;
  x.val_accuracy = 0.8f;
  FakeRun k = MakeRun("kaiming", 103, Decay(60, 0.693f, 0.02f));
  k.val_loss = 0.3f;
  k.val_accuracy = 1.0f;
  const JobData data = MakeJobData(1, spec, {MakeRun("uniform", 101, ThenNaN({1e12f})), x, k});
  const absl::StatusOr<JobSummary> s = Summarize(data);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->runs[2].generalisation, Generalisation::kTooFewExamples);
  EXPECT_EQ(s->kaiming_generalises, std::nullopt);
  auto files = Render(data);
  const json manifest = Parse(files["manifest.json"].data);
  const json& r = manifest["results_summary"];
  EXPECT_TRUE(r["kaiming_generalises"].is_null()) << r;
  EXPECT_TRUE(r["xavier_generalises"].is_null()) << r;
  EXPECT_EQ(r["runs"][2]["generalisation"], "too few validation examples");
  EXPECT_TRUE(Contains(r["notes"].dump(),
                       "kaiming_generalises is null: the validation set has 5 "
                       "examples, fewer than the 100"))
      << r["notes"];
  EXPECT_TRUE(Contains(manifest["definitions"]["generalisation"].get<std::string>(),
                       "fewer than 100 examples"));
  const std::string& readme = files["README.md"].data;
  EXPECT_FALSE(Contains(readme, "generalises**")) << readme;
  EXPECT_FALSE(Contains(readme, "kaiming generalises")) << readme;
  EXPECT_TRUE(Contains(readme,
                       "but 5 validation examples are too few to tell whether it "
                       "generalises. A verdict needs at least 100: over n examples a "
                       "classifier at chance scores 50% give or take about 22%"))
      << readme;
  // The lab's own 200 examples are enough.
  EXPECT_EQ(Summarize(testing::LabLikeJob())->runs[2].generalisation, Generalisation::kGeneralises);
}

TEST(ReadmeTest, SaysPlainlyWhenARunMemorises) {
  const JobData data = testing::MemorisingJob();
  auto files = Render(data);
  const std::string& readme = files["README.md"].data;
  const json manifest = Parse(files["manifest.json"].data);
  const json& r = manifest["results_summary"];
  // The verdict on training loss stands, and the validation finding is beside it.
  EXPECT_EQ(r["lab_expectation"]["kaiming_trained"], true);
  EXPECT_EQ(r["lab_expectation"]["kaiming_generalises"], false);
  EXPECT_EQ(r["kaiming_generalises"], false);
  EXPECT_EQ(r["xavier_generalises"], true);
  EXPECT_EQ(r["runs"][2]["generalisation"], "memorises");
  EXPECT_EQ(manifest["runs"][2]["generalisation"], "memorises");
  // The numbers of the sentence come from the job's validation.
  const v1::EvalResult& k = data.job.runs(2).final_eval();
  EXPECT_EQ(r["val_loss_kaiming"].get<double>(), FloatForJson(k.loss()));
  EXPECT_TRUE(Contains(readme, "**kaiming** trained (fits the training set)")) << readme;
  EXPECT_TRUE(Contains(readme, absl::StrCat("loss ", Sig(k.loss(), 4), " and accuracy ",
                                            Percent(k.accuracy()), ": it **memorises**")))
      << readme;
  EXPECT_TRUE(Contains(readme, "It trains; it does not generalise.")) << readme;
  EXPECT_TRUE(Contains(readme, "On the validation set, kaiming **memorises**")) << readme;
  // Its validation loss rose from its best while the training loss fell.
  const store::EvalRecord& best = data.trajectories[2].evals.front();
  EXPECT_TRUE(Contains(readme, absl::StrCat("Its validation loss was lowest at step ",
                                            best.step, " (", Sig(best.loss, 4), ")")))
      << readme;
  // Xavier's validation is the better one, and the README says it generalises.
  EXPECT_TRUE(Contains(readme, "xavier generalises")) << readme;
  // The lab's job with validation that generalises does not say "memorises".
  auto lab = Render(testing::LabLikeJob());
  EXPECT_FALSE(Contains(lab["README.md"].data, "memorises"));
  EXPECT_TRUE(Contains(lab["README.md"].data, "it **generalises**"));
}

// Evaluations every 333 of 1000 steps: the lowest is simply the first, and the README said the
// run overfit after it.
TEST(ReadmeTest, ACoarseEvaluationGridDoesNotPlaceTheValidationMinimum) {
  v1::JobSpec spec = LabSpec(1000);
  spec.mutable_training()->set_eval_every(333);
  FakeRun k = MakeRun("kaiming", 103, Decay(1000, 0.693f, 0.001f));
  k.val_curve = {0.5f, 1.2f, 1.8f};
  k.val_loss = 2.0f;
  k.val_accuracy = 0.525f;
  const JobData data = MakeJobData(1, spec, {k});
  ASSERT_EQ(data.trajectories[0].evals.size(), 3u);  // steps 333, 666 and 999
  const std::string readme = Render(data)["README.md"].data;
  EXPECT_FALSE(Contains(readme, "was lowest at step 333")) << readme;
  EXPECT_FALSE(Contains(readme, "overfit after that step")) << readme;
  EXPECT_TRUE(Contains(readme,
                       "Its validation loss rose from 0.5 at step 333 to 2 at step 1000 "
                       "while its training loss kept falling, but 3 evaluations (every "
                       "333 steps) are too few to tell where it was lowest"))
      << readme;
}

TEST(ReadmeTest, HalvingXaviersLossCountsFromWhereItsFittedLineEnds) {
  // Xavier falls by 4e-4 a step, from 0.9 at step 0 to 0.5004 at step 999; its last 200 steps'
  // mean is 0.5402, at step 899.5. Halving 0.5004 at that rate takes about 630 steps, where
  // halving the window's mean would take about 680.
  std::vector<float> line(1000);
  for (int i = 0; i < 1000; ++i) line[i] = 0.9f - 4e-4f * static_cast<float>(i);
  auto files = Render(MakeJobData(
      1, LabSpec(1000),
      {MakeRun("xavier", 102, line), MakeRun("kaiming", 103, Decay(1000, 0.7f, 0.01f))}));
  const std::string& readme = files["README.md"].data;
  EXPECT_TRUE(Contains(readme, "Xavier is **training**")) << readme;
  EXPECT_TRUE(Contains(readme, "halving its loss (the fitted line's 0.5 at step 999) would take "
                               "about 630 more steps"))
      << readme;
}

TEST(ReadmeTest, ComparesThePredictionWithWhatHappenedAtDepth24) {
  auto files = Render(testing::DeepJob());
  const std::string& readme = files["README.md"].data;
  EXPECT_TRUE(Contains(readme, "## Prediction vs what happened at depth 24")) << readme;
  const json outcomes = Parse(files["manifest.json"].data)["results_summary"]["depth_outcomes"];
  ASSERT_EQ(outcomes.size(), 3u);
  for (const json& o : outcomes) {
    EXPECT_EQ(o["depth"], 24);
    EXPECT_EQ(o["held"], true) << o.dump();
    EXPECT_TRUE(Contains(readme, "**" + o["init"].get<std::string>() + "**: the forward variance"))
        << readme;
  }
  EXPECT_EQ(outcomes[0]["regime"], "explodes");
  EXPECT_EQ(outcomes[1]["regime"], "vanishes");
  EXPECT_EQ(outcomes[2]["regime"], "keeps its scale");
  EXPECT_TRUE(Contains(readme, "`layer_stats.png`"));
}

TEST(ReadmeTest, ReportsEachInitsSpreadAcrossSeeds) {
  auto files = Render(testing::SeedsJob());
  const std::string& readme = files["README.md"].data;
  const json seeds = Parse(files["manifest.json"].data)["results_summary"]["seeds"];
  ASSERT_EQ(seeds.size(), 1u);
  const json& k = seeds[0];
  EXPECT_EQ(k["init"], "kaiming");
  EXPECT_EQ(k["runs"], 3);
  EXPECT_LE(k["final_loss"]["min"].get<double>(), k["final_loss"]["median"].get<double>());
  EXPECT_LE(k["final_loss"]["median"].get<double>(), k["final_loss"]["max"].get<double>());
  EXPECT_TRUE(Contains(readme, "## Across seeds")) << readme;
  EXPECT_TRUE(Contains(readme, absl::StrCat("| kaiming | 3 | ",
                                            Sig(k["final_loss"]["median"].get<double>(), 4), " [",
                                            Sig(k["final_loss"]["min"].get<double>(), 4), "–",
                                            Sig(k["final_loss"]["max"].get<double>(), 4), "]")))
      << readme;
}

TEST(ReadmeTest, SaysWhichSeedsVariedAndRecordsEachRunsDataSeed) {
  JobData data = testing::SeedsJob();
  ASSERT_GE(data.job.spec().runs_size(), 2);
  for (int i = 0; i < data.job.spec().runs_size(); ++i) {
    data.job.mutable_spec()->mutable_runs(i)->set_data_seed(1 + static_cast<uint64_t>(i));
  }
  auto files = Render(data);
  const json m = Parse(files["manifest.json"].data);
  EXPECT_EQ(m["seeds"]["varied"], json({"weights", "data"}));
  for (int i = 0; i < data.job.runs_size(); ++i) {
    const std::string id = std::to_string(data.job.runs(i).id());
    EXPECT_EQ(m["seeds"]["data_per_run"][id], 1 + data.job.runs(i).index()) << m["seeds"].dump();
    EXPECT_EQ(Parse(files["losses.json"].data)["runs"][i]["data_seed"],
              1 + data.job.runs(i).index());
  }
  const std::string& readme = files["README.md"].data;
  EXPECT_TRUE(Contains(readme, "data seeds varied with the weight seeds")) << readme;
  EXPECT_TRUE(Contains(readme, "and another draw of the data")) << readme;

  // Without vary_data_seed only the weights vary, and the README says the data was fixed.
  auto fixed = Render(testing::SeedsJob());
  EXPECT_EQ(Parse(fixed["manifest.json"].data)["seeds"]["varied"], json({"weights"}));
  EXPECT_TRUE(Contains(fixed["README.md"].data, "(the data seed fixed)"));
}

TEST(ManifestTest, HoldsValidationAndThePerLayerSignal) {
  const JobData data = testing::LabLikeJob();
  auto files = Render(data);
  const json m = Parse(files["manifest.json"].data);
  for (int i = 1; i < 3; ++i) {
    const json& run = m["runs"][i];
    ASSERT_TRUE(run["last_eval"].is_object()) << i;
    EXPECT_EQ(run["last_eval"]["step"], data.trajectories[i].evals.back().step);
    EXPECT_TRUE(run["best_eval"].is_object());
    EXPECT_TRUE(run["generalisation"].is_string());
    const json& layers = run["init_stats"];
    ASSERT_EQ(layers.size(), 12u);
    for (size_t l = 0; l < layers.size(); ++l) {
      EXPECT_DOUBLE_EQ(layers[l]["first_step_grad_norm"].get<double>(),
                       data.job.runs(i).init_stats(static_cast<int>(l)).first_step_grad_norm());
    }
  }
  // Uniform stopped at step 2 after two updates: it has gradients but no validation.
  EXPECT_TRUE(m["runs"][0]["last_eval"].is_null());
  EXPECT_TRUE(m["definitions"].contains("generalisation"));
  EXPECT_TRUE(m["definitions"].contains("step indexing"));
  // The layer figure is among the files.
  EXPECT_TRUE(m["files"].contains("layer_stats.png"));
}

TEST(ReadmeTest, SaysSoWhenNothingDiverges) {
  auto files = Render(testing::NothingDivergesJob());
  const std::string& readme = files["README.md"].data;
  EXPECT_TRUE(Contains(readme, "Uniform produced no NaN (steps_to_nan_uniform is null)")) << readme;
  EXPECT_TRUE(Contains(readme, "From **step 12**"));
  EXPECT_FALSE(Contains(readme, "first NaN came"));
  EXPECT_FALSE(Contains(readme, "** diverged"));  // no run's outcome is divergence
  EXPECT_FALSE(Contains(readme, "clipped"));
}

// A flatline is judged on the loss; the README said "with vanishing weight gradients" of every
// one. It now gives the gradient's median and largest value over the flatline, from the data:
// here zero but for a spike every ten steps.
TEST(ReadmeTest, AFlatlineGivesItsGradientNormRatherThanCallingItVanishing) {
  JobData data = testing::NothingDivergesJob();
  std::vector<float>& norms = data.trajectories[0].weight_grad_norms;
  for (size_t s = 12; s < norms.size(); ++s) norms[s] = s % 10 == 0 ? 0.05f : 0.0f;
  auto files = Render(data);
  const std::string& readme = files["README.md"].data;
  EXPECT_FALSE(Contains(readme, "vanishing weight gradients")) << readme;
  EXPECT_TRUE(Contains(readme, "From **step 12** to its last step its loss sat at chance (0.693), "
                               "its weight-gradient norm there a median of 0 (at most 0.05)"))
      << readme;
  const json run = Parse(files["manifest.json"].data)["runs"][0];
  EXPECT_EQ(run["flatline_grad_norm"]["median"], 0.0) << run;
  EXPECT_NEAR(run["flatline_grad_norm"]["max"].get<double>(), 0.05, 1e-7) << run;
  EXPECT_TRUE(Parse(files["manifest.json"].data)["runs"][1]["flatline_grad_norm"].is_null());
}

TEST(ReadmeTest, AnswersOnlyWhatTheJobCanAnswer) {
  // Kaiming alone, and it did not learn.
  FakeRun k = MakeRun("kaiming", 1, testing::Flat(30, 0.7f, 0.002f));
  const std::string readme = Render(MakeJobData(4, LabSpec(30), {k}))["README.md"].data;
  EXPECT_TRUE(Contains(readme, "One run of a 12-layer MLP")) << readme;
  EXPECT_TRUE(Contains(readme, "no uniform run")) << readme;
  EXPECT_TRUE(Contains(readme, "no xavier run to compare it with")) << readme;
  EXPECT_TRUE(Contains(readme, "This job has no xavier run, so there is no slope")) << readme;
  EXPECT_TRUE(Contains(readme, "**kaiming** did not learn")) << readme;
  EXPECT_FALSE(Contains(readme, "outcome the lab expects"));
  EXPECT_FALSE(Contains(readme, "xavier_slope_last200)"));
}

TEST(ReadmeTest, SaysWhenKaimingDidNotTrainAndReportsFiredChecks) {
  const JobData data = MakeJobData(
      5, LabSpec(30),
      {MakeRun("uniform", 1, ThenNaN({1e6f})), MakeRun("xavier", 2, ThenNaN(Decay(5, 1, 90))),
       MakeRun("kaiming", 3, ThenNaN(Decay(8, 1, 900)))});
  auto files = Render(data);
  const std::string& readme = files["README.md"].data;
  EXPECT_TRUE(Contains(readme, "Kaiming did not train in this job (diverged)")) << readme;
  EXPECT_TRUE(Contains(readme, "- **all_diverged**: Every run diverged")) << readme;
  EXPECT_TRUE(Contains(readme, "to 0.0001"));
  EXPECT_TRUE(Contains(readme, "Xavier diverged at step 5"));
  EXPECT_TRUE(Contains(readme, "not quite the outcome the lab expects"));
  const json m = Parse(files["manifest.json"].data);
  EXPECT_EQ(m["checks"][1]["id"], "all_diverged");
  EXPECT_EQ(m["checks"][1]["fired"], true);
  EXPECT_TRUE(Contains(m["checks"][1]["message"].get<std::string>(), "0.0001"));
}

TEST(ReadmeTest, NamesTheNaNStepTheFigureMarks) {
  auto files = Render(testing::LabLikeJob(7, 60, 5));
  const json m = Parse(files["manifest.json"].data);
  EXPECT_EQ(m["results_summary"]["steps_to_nan_uniform"], 5);
  EXPECT_TRUE(Contains(files["README.md"].data, "first NaN came at **step 5**"));
  EXPECT_TRUE(Contains(m["plot"]["annotations"].dump(), "NaN at step 5")) << m["plot"];
}

TEST(ReadmeTest, SaysWhichOtherSeedsEndedUnlikeTheFirstRunItsVerdictsDescribe) {
  FakeRun x1 = MakeRun("xavier", 102, Decay(60, 0.693f, 0.5f));
  x1.val_loss = 0.62f;
  x1.val_accuracy = 0.65f;
  FakeRun x2 = MakeRun("xavier", 202, testing::Flat(60, 0.6931f));  // did not learn
  x2.val_loss = 0.69f;
  x2.val_accuracy = 0.52f;
  FakeRun k = MakeRun("kaiming", 103, Decay(60, 0.693f, 0.01f));
  k.val_loss = 1.5f;
  k.val_accuracy = 0.55f;
  const JobData data =
      MakeJobData(1, LabSpec(60), {MakeRun("uniform", 101, ThenNaN({1e6f, 1e20f})), x1, x2, k});
  const std::string readme = Render(data)["README.md"].data;
  EXPECT_TRUE(Contains(readme, "xavier generalises")) << readme;  // its first run
  const std::string label = absl::StrCat("**xavier (run ", data.job.runs(2).id(), ")**");
  EXPECT_TRUE(Contains(readme, absl::StrCat("These verdicts are each init's first run's, and not "
                                            "every other seed ended the same way: ",
                                            label, ": not learning, does not generalise")))
      << readme;
  // A job whose runs all agree says nothing of the kind.
  EXPECT_FALSE(Contains(Render(testing::LabLikeJob())["README.md"].data, "These verdicts"));
}

TEST(ReadmeTest, AXavierThatStaysAtChanceIsNotInBetween) {
  // As at depth 24: xavier's signal vanishes and its loss stays at chance, kaiming trains.
  auto files = Render(MakeJobData(1, LabSpec(60, 24),
                                  {MakeRun("uniform", 101, ThenNaN({7e11f})),
                                   MakeRun("xavier", 102, testing::Flat(60, 0.6931f)),
                                   MakeRun("kaiming", 103, Decay(60, 0.7f, 0.001f))}));
  const json expectation =
      Parse(files["manifest.json"].data)["results_summary"]["lab_expectation"];
  EXPECT_EQ(expectation["xavier_in_between"], false) << expectation;
  EXPECT_EQ(expectation["met"], false) << expectation;
  EXPECT_TRUE(Contains(Parse(files["manifest.json"].data)["definitions"]["lab_expectation"]
                           .get<std::string>(),
                       "xavier_in_between when xavier learned"));
  const std::string& readme = files["README.md"].data;
  EXPECT_TRUE(Contains(readme, "this is not quite the outcome the lab expects: xavier did not "
                               "learn, where the lab expects it to crawl"))
      << readme;
  EXPECT_FALSE(Contains(readme, "xavier lies in between")) << readme;
  // Its flat line does not fall: the criterion is not worded as if it did.
  EXPECT_TRUE(Contains(readme, "A run counts as training when its fitted line falls by at least "
                               "5% of its mean loss"))
      << readme;
}

// At a high learning rate xavier trains fully as kaiming does, only to a slightly higher end
// loss: that is not "in between" (it said "xavier lies in between").
TEST(ReadmeTest, AXavierThatTrainedFullyIsNotInBetween) {
  auto files = Render(MakeJobData(
      1, LabSpec(60),
      {MakeRun("uniform", 101, ThenNaN({7e11f})), MakeRun("xavier", 102, Decay(60, 0.7f, 0.002f)),
       MakeRun("kaiming", 103, Decay(60, 0.7f, 0.001f))}));
  const json expectation = Parse(files["manifest.json"].data)["results_summary"]["lab_expectation"];
  EXPECT_EQ(expectation["xavier_in_between"], false) << expectation;
  EXPECT_EQ(expectation["met"], false) << expectation;
  const std::string& readme = files["README.md"].data;
  EXPECT_FALSE(Contains(readme, "xavier lies in between")) << readme;
  EXPECT_TRUE(Contains(readme, "xavier trained as well (the mean of its last 10 steps")) << readme;
}

TEST(ReadmeTest, EachVerdictShowsTheMeansItRestsOn) {
  // Kaiming's last step (0.40) is above half of chance (0.3466) and above xavier's (0.336), but
  // its last 10 steps average 0.31: it trained, and xavier (0.3525 on average) only learned.
  std::vector<float> k = Decay(60, 0.9f, 0.3f, 0.0f);
  k.back() = 0.40f;
  std::vector<float> x = Decay(60, 0.83f, 0.35f, 0.0f);
  x.back() = 0.336f;
  const JobData data = MakeJobData(
      1, LabSpec(60), {MakeRun("uniform", 101, ThenNaN({1e6f})), MakeRun("xavier", 102, x),
                       MakeRun("kaiming", 103, k)});
  const std::string readme = Render(data)["README.md"].data;
  double k_mean = 0, x_mean = 0;
  for (int i = 50; i < 60; ++i) {
    k_mean += k[i] / 10.0;
    x_mean += x[i] / 10.0;
  }
  ASSERT_LT(k_mean, 0.5 * std::log(2.0));
  ASSERT_GT(x_mean, 0.5 * std::log(2.0));
  EXPECT_TRUE(Contains(readme, absl::StrCat("**kaiming** trained (fits the training set): its "
                                            "training loss went from 0.9 at step 0 to 0.4 at "
                                            "step 59 (the mean of its last 10 steps, ",
                                            Sig(k_mean, 4), ", is below 0.5 × chance, 0.3466)")))
      << readme;
  EXPECT_TRUE(Contains(readme, absl::StrCat("(the mean of its last 10 steps, ", Sig(x_mean, 4),
                                            ", is ")))
      << readme;
  EXPECT_TRUE(Contains(readme, "but not below 0.5 × chance, 0.3466)")) << readme;
}

TEST(ReadmeTest, ANonPositiveUniformFlatlinesByItsSign) {
  FakeRun u = MakeRun("uniform", 101, testing::Flat(60, 0.6931f));
  u.uniform_low = -0.5;
  u.uniform_high = 0;
  u.flatline_step = 0;
  const std::string readme =
      Render(MakeJobData(1, LabSpec(60), {u, MakeRun("xavier", 102, Decay(60, 0.7f, 0.5f)),
                                          MakeRun("kaiming", 103, Decay(60, 0.7f, 0.01f))}))
          ["README.md"]
              .data;
  EXPECT_TRUE(Contains(readme, "it saturated instead")) << readme;
  EXPECT_TRUE(Contains(readme, "Here it is the sign, not the scale: U[-0.5, 0] draws no positive "
                               "weight"))
      << readme;
  EXPECT_TRUE(Contains(readme, "- **uniform**: its weights are all ≤ 0, so every ReLU after the "
                               "first layer outputs zero and the signal dies; expected a flatline"))
      << readme;
  EXPECT_TRUE(Contains(readme, "   - **uniform** (dies): Its weights are all ≤ 0")) << readme;
  // The lab's own bounds flatline (if ever) by their scale: no such sentence.
  FakeRun lab = MakeRun("uniform", 101, testing::Flat(60, 0.6931f));
  lab.flatline_step = 0;
  EXPECT_FALSE(Contains(
      Render(MakeJobData(1, LabSpec(60), {lab, MakeRun("xavier", 102, Decay(60, 0.7f, 0.5f)),
                                          MakeRun("kaiming", 103, Decay(60, 0.7f, 0.01f))}))
          ["README.md"]
              .data,
      "not the scale"));
}

TEST(ReadmeTest, CallsAnInfinityThatEndsUniformANonFiniteLossNotANaN) {
  auto files = Render(MakeJobData(
      1, LabSpec(30),
      {MakeRun("uniform", 101, {3e5f, std::numeric_limits<float>::infinity()}),
       MakeRun("xavier", 102, Decay(30, 0.7f, 0.6f)),
       MakeRun("kaiming", 103, Decay(30, 0.7f, 0.1f))}));
  const std::string& readme = files["README.md"].data;
  EXPECT_EQ(Parse(files["manifest.json"].data)["results_summary"]["steps_to_nan_uniform"], 1);
  EXPECT_TRUE(Contains(readme, "Uniform's first non-finite loss came at **step 1** "
                               "(steps_to_nan_uniform = 1; the loss was +inf"))
      << readme;
  EXPECT_FALSE(Contains(readme, "first NaN came")) << readme;
  // The figure's marker and legend say the same.
  const json plot = Parse(files["manifest.json"].data)["plot"];
  EXPECT_TRUE(Contains(plot["annotations"].dump(), "✕ +inf at step 1")) << plot;
  EXPECT_FALSE(Contains(plot.dump(), "NaN at step")) << plot;
}

// Jobs end side by side (--finishing-threads): files rendered on four threads at once are the
// bytes of the same files rendered one job at a time (PLplot, which is not thread-safe, draws
// one figure at a time; everything else is per job).
TEST(FilesTest, JobsRenderedSideBySideGiveTheSameBytesAsOneAtATime) {
  const std::vector<JobData> jobs = {testing::LabLikeJob(), testing::MemorisingJob(),
                                     testing::DeepJob(), testing::NothingDivergesJob()};
  auto digests = [&](size_t i) {
    std::map<std::string, std::string> by_name;
    for (const auto& [name, file] : Render(jobs[i])) by_name[name] = file.sha256;
    return by_name;
  };
  std::vector<std::map<std::string, std::string>> alone(jobs.size()), together(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) alone[i] = digests(i);
  for (int round = 0; round < 2; ++round) {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < jobs.size(); ++i) {
      threads.emplace_back([&, i] { together[i] = digests(i); });
    }
    for (std::thread& t : threads) t.join();
    for (size_t i = 0; i < jobs.size(); ++i) {
      EXPECT_FALSE(alone[i].empty());
      EXPECT_EQ(together[i], alone[i]) << "job " << i << ", round " << round;
    }
  }
}

}  // namespace
}  // namespace ablate::artifacts
