// End-to-end tests of BuildJobArtifacts against a store: what the FinishHook does when a job's
// runs have ended. One job is trained for real by the core (lab 1's configuration, 30 steps).
#include <gtest/gtest.h>

#include <thread>

#include "core/analysis.h"
#include "core/data.h"
#include "core/trainer.h"
#include "nlohmann/json.hpp"
#include "server/artifacts/artifacts.h"
#include "proto/sha256.h"
#include "tests/server/artifacts/fake_store.h"
#include "tests/server/artifacts/test_jobs.h"

namespace ablate::artifacts {
namespace {

using nlohmann::json;
using testing::FakeStore;

TEST(BuildJobArtifactsTest, StoresEveryFileOfTheJob) {
  FakeStore store;
  store.Add(testing::LabLikeJob(7));
  ASSERT_TRUE(BuildJobArtifacts(store, 7, ThisBuild()).ok());
  const std::vector<std::string> names = store.ArtifactNames(7);
  EXPECT_EQ(names, (std::vector<std::string>{"job.json", "losses.json", "loss_curves.png",
                                              "loss_curves_log.png", "layer_stats.png",
                                              "README.md", "manifest.json"}));
  for (const std::string& name : names) {
    const absl::StatusOr<store::Artifact> file = store.GetArtifact(7, name);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ(file->sha256, Sha256Hex(file->data)) << name;
  }
  // A second build replaces the files rather than adding to them.
  ASSERT_TRUE(BuildJobArtifacts(store, 7, ThisBuild()).ok());
  EXPECT_EQ(store.ArtifactNames(7).size(), 7u);
}

TEST(BuildJobArtifactsTest, AnUnknownJobIsNotFound) {
  FakeStore store;
  EXPECT_EQ(BuildJobArtifacts(store, 42, ThisBuild()).code(), absl::StatusCode::kNotFound);
}

TEST(BuildJobArtifactsTest, JobsMayFinishOnSeveralThreadsAtOnce) {
  FakeStore store;
  for (int64_t id = 1; id <= 4; ++id) store.Add(testing::LabLikeJob(id, 40, 1 + id));
  std::vector<absl::Status> results(4);
  {
    std::vector<std::jthread> threads;
    for (int64_t id = 1; id <= 4; ++id) {
      threads.emplace_back(
          [&, id] { results[id - 1] = BuildJobArtifacts(store, id, ThisBuild()); });
    }
  }
  for (int64_t id = 1; id <= 4; ++id) {
    ASSERT_TRUE(results[id - 1].ok()) << results[id - 1];
    const json m = json::parse(store.GetArtifact(id, "manifest.json")->data);
    EXPECT_EQ(m["job"]["id"], id);
    EXPECT_EQ(m["results_summary"]["steps_to_nan_uniform"], 1 + id);
  }
}

// Lab 1's three runs trained by the core for 30 steps, recorded the way the job manager records
// them, then built into files.
class RecordingObserver : public core::RunObserver {
 public:
  void OnStep(const core::StepRecord& s) override {
    t.steps.push_back(s.step);
    t.losses.push_back(s.loss);
    t.weight_grad_norms.push_back(s.weight_grad_norm);
    t.step_seconds.push_back(static_cast<float>(s.seconds));
  }
  void OnEval(const core::EvalRecord& e) override {
    t.evals.push_back(store::EvalRecord{.step = e.step, .loss = e.loss, .accuracy = e.accuracy});
  }
  store::Trajectory t;
};

TEST(BuildJobArtifactsTest, ReportsWhatTheCoreRecorded) {
  core::ExperimentConfig config = core::LabExperiment();
  config.train.steps = 30;
  config.train.eval_every = 10;
  const std::vector<core::InitConfig> inits = core::LabRuns();
  const core::Dataset dataset = core::MakeLabDataset(config.data, config.model.input_dim);

  JobData data =
      testing::MakeJobData(9, testing::LabSpec(30, config.model.depth, config.model.width),
                           {testing::MakeRun("uniform", inits[0].weight_seed, {}),
                            testing::MakeRun("xavier", inits[1].weight_seed, {}),
                            testing::MakeRun("kaiming", inits[2].weight_seed, {})});
  data.job.mutable_spec()->mutable_training()->set_eval_every(10);
  for (int i = 0; i < 3; ++i) {
    core::Trainer trainer(config, dataset, inits[i]);
    RecordingObserver observer;
    const core::RunResult result = trainer.Run(&observer);
    v1::Run& run = *data.job.mutable_runs(i);
    run.set_state(result.outcome == core::Outcome::kDiverged ? v1::RUN_STATE_DIVERGED
                                                             : v1::RUN_STATE_COMPLETED);
    run.set_outcome(core::DescribeOutcome(result));
    run.set_steps_done(result.steps_run);
    run.clear_first_nonfinite_step();
    if (result.first_nonfinite_step) run.set_first_nonfinite_step(*result.first_nonfinite_step);
    if (result.flatline_step) run.set_flatline_step(*result.flatline_step);
    run.set_final_loss(result.final_loss);
    run.clear_final_eval();
    if (result.final_eval) {
      run.mutable_final_eval()->set_step(result.final_eval->step);
      run.mutable_final_eval()->set_loss(result.final_eval->loss);
      run.mutable_final_eval()->set_accuracy(result.final_eval->accuracy);
    }
    run.clear_init_stats();
    for (const core::LayerStats& s : result.init_stats) {
      v1::LayerStats* stats = run.add_init_stats();
      stats->set_weight_variance(s.weight_variance);
      stats->set_activation_mean(s.activation_mean);
      stats->set_activation_std(s.activation_std);
    }
    observer.t.run_id = run.id();
    data.trajectories[i] = observer.t;
  }

  FakeStore store;
  store.Add(data);
  ASSERT_TRUE(BuildJobArtifacts(store, 9, ThisBuild()).ok());
  const json m = json::parse(store.GetArtifact(9, "manifest.json")->data);
  const json losses = json::parse(store.GetArtifact(9, "losses.json")->data);
  const std::string readme = store.GetArtifact(9, "README.md")->data;

  // Lab 1's uniform run blows up within its first 20 steps (core/lab_test.cc): the report must
  // say where, from the recorded losses.
  const std::optional<int> nan_step = core::FirstNonFinite(data.trajectories[0].losses);
  ASSERT_TRUE(nan_step.has_value()) << "the uniform run did not diverge in 30 steps";
  EXPECT_EQ(data.job.runs(0).state(), v1::RUN_STATE_DIVERGED);
  EXPECT_EQ(m["results_summary"]["steps_to_nan_uniform"], *nan_step);
  EXPECT_NE(readme.find("first NaN came at **step " + std::to_string(*nan_step) + "**"),
            std::string::npos)
      << readme;
  // losses.json writes the non-finite loss as null beside the step it came at.
  EXPECT_TRUE(losses["runs"][0]["losses"][*nan_step].is_null());
  EXPECT_EQ(losses["runs"][0]["first_nonfinite_step"], *nan_step);
  EXPECT_EQ(static_cast<float>(m["results_summary"]["final_loss_kaiming"].get<double>()),
            data.trajectories[2].losses.back());
  for (int i = 0; i < 3; ++i) {
    const std::vector<float>& recorded = data.trajectories[i].losses;
    ASSERT_EQ(losses["runs"][i]["losses"].size(), recorded.size());
    for (size_t s = 0; s < recorded.size(); ++s) {
      if (std::isfinite(recorded[s])) {
        EXPECT_EQ(static_cast<float>(losses["runs"][i]["losses"][s].get<double>()), recorded[s]);
      }
    }
  }
  // The measured first-layer variance of U[-0.5, 0.5] is 1/12 to well within 10%.
  EXPECT_NEAR(m["runs"][0]["init_stats"][0]["weight_variance"].get<double>(), 1.0 / 12, 0.005);
  EXPECT_EQ(m["checks"][3]["id"], "uniform_variance");
  EXPECT_EQ(m["checks"][3]["fired"], false);
}

}  // namespace
}  // namespace ablate::artifacts
