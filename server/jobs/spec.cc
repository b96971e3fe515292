#include "server/jobs/spec.h"

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "core/init.h"
#include "server/convert/core_messages.h"
#include "server/jobs/text.h"

namespace ablate::jobs {

namespace {

// The core names fields by their config path ("train.lr", "init.scheme"); the API by the
// spec's ("training.lr", "runs[2].init").
std::string ApiFieldNames(std::string text, int run_index) {
  const std::string run = absl::StrCat("runs[", run_index, "].");
  text = absl::StrReplaceAll(text, {{"init.scheme", run + "init"}});
  return absl::StrReplaceAll(text, {{"init.", run}, {"train.", "training."}});
}

absl::Status ToStatus(const core::ConfigError& error, int run_index = -1) {
  return absl::InvalidArgumentError(ApiFieldNames(error.message, run_index));
}

// "name" or "owner": 1 to `max` bytes of UTF-8 without control characters (text.h), since it
// is shown in lists and terminals and written to the log.
absl::Status CheckName(const char* field, const std::string& text, size_t max) {
  if (text.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be 1 to ", max,
                                                   " bytes of UTF-8 (got ", text.size(),
                                                   " bytes)."));
  }
  if (std::string problem = NameTextProblem(text); !problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " must be UTF-8 text without control characters (tab and newline included); it ",
        problem, "."));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::JobSpec> ResolveSpec(const v1::JobSpec& spec) {
  v1::JobSpec out = spec;
  const bool unnamed = out.name().empty();
  if (!unnamed) {
    if (absl::Status s = CheckName("name", out.name(), kMaxNameLength); !s.ok()) return s;
  }

  const core::ExperimentConfig lab = core::LabExperiment();
  v1::ModelSpec& m = *out.mutable_model();
  if (!m.has_depth()) m.set_depth(lab.model.depth);
  if (!m.has_width()) m.set_width(lab.model.width);
  if (!m.has_input_dim()) m.set_input_dim(lab.model.input_dim);
  if (!m.has_classes()) m.set_classes(lab.model.classes);
  v1::DataSpec& d = *out.mutable_data();
  if (!d.has_train_size()) d.set_train_size(lab.data.train_size);
  if (!d.has_val_size()) d.set_val_size(lab.data.val_size);
  if (!d.has_label_dims()) d.set_label_dims(lab.data.label_dims);
  if (!d.has_seed()) d.set_seed(lab.data.seed);
  v1::TrainingSpec& t = *out.mutable_training();
  if (!t.has_steps()) t.set_steps(lab.train.steps);
  if (!t.has_lr()) t.set_lr(lab.train.lr);
  if (!t.has_momentum()) t.set_momentum(lab.train.momentum);
  if (!t.has_batch()) t.set_batch(lab.train.batch);
  if (!t.has_eval_every()) t.set_eval_every(lab.train.eval_every);
  if (!t.has_stop_on_nonfinite()) t.set_stop_on_nonfinite(lab.train.stop_on_nonfinite);

  if (out.runs().empty()) {
    for (const core::InitConfig& init : core::LabRuns()) out.add_runs()->set_init(init.scheme);
  }
  if (out.vary_data_seed() && out.seeds() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vary_data_seed needs seeds of 2 to ", kMaxRuns, " (got ",
        out.has_seeds() ? absl::StrCat(out.seeds()) : std::string("none"),
        "): with one seed per run there is nothing to vary."));
  }
  if (out.has_seeds()) {
    const int seeds = out.seeds();
    if (seeds < 1 || seeds > kMaxRuns) {
      return absl::InvalidArgumentError(
          absl::StrCat("seeds must be 1 to ", kMaxRuns, " (got ", seeds, ")."));
    }
    if (static_cast<int64_t>(out.runs_size()) * seeds > kMaxRuns) {
      return absl::InvalidArgumentError(absl::StrCat(
          "runs × seeds must be at most ", kMaxRuns, " runs (got ", out.runs_size(), " × ", seeds,
          " = ", static_cast<int64_t>(out.runs_size()) * seeds, ")."));
    }
    google::protobuf::RepeatedPtrField<v1::RunSpec> expanded;
    for (int i = 0; i < out.runs_size(); ++i) {
      const v1::RunSpec& run = out.runs(i);
      const uint64_t first = run.has_weight_seed()
                                 ? run.weight_seed()
                                 : kFirstWeightSeed + static_cast<uint64_t>(seeds) * i;
      for (int k = 0; k < seeds; ++k) {
        v1::RunSpec& copy = *expanded.Add();
        copy = run;
        copy.set_weight_seed(first + static_cast<uint64_t>(k));
        if (out.vary_data_seed()) copy.set_data_seed(d.seed() + static_cast<uint64_t>(k));
      }
    }
    out.mutable_runs()->Swap(&expanded);
    out.clear_seeds();
    out.clear_vary_data_seed();
  }
  if (out.runs_size() > kMaxRuns) {
    return absl::InvalidArgumentError(absl::StrCat("runs must hold 1 to ", kMaxRuns,
                                                   " runs (got ", out.runs_size(), ")."));
  }
  const core::InitConfig init_defaults;
  for (int i = 0; i < out.runs_size(); ++i) {
    v1::RunSpec& run = *out.mutable_runs(i);
    if (!run.has_weight_seed()) run.set_weight_seed(kFirstWeightSeed + i);
    // The bounds are the uniform scheme's alone. A request giving them to another init is
    // refused rather than trained without them: its author expected them to change the run.
    // (An unknown init is left for Validate, which names it.)
    if (run.init() != "uniform") {
      if ((run.has_uniform_low() || run.has_uniform_high()) &&
          core::FindInitScheme(run.init()) != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "runs[", i, "].", run.has_uniform_low() ? "uniform_low" : "uniform_high",
            " is a bound of the uniform init only; ", run.init(),
            " draws its weights from its own formula and takes no bounds (remove them, or use "
            "init uniform)."));
      }
      continue;
    }
    if (!run.has_uniform_low()) run.set_uniform_low(init_defaults.uniform_low);
    if (!run.has_uniform_high()) run.set_uniform_high(init_defaults.uniform_high);
  }

  if (auto error = core::Validate(ToExperiment(out))) return ToStatus(*error);
  const v1::TrainingSpec& training = out.training();
  if (training.steps() / training.eval_every() > kMaxEvaluations) {
    const int64_t least = (int64_t{training.steps()} + kMaxEvaluations - 1) / kMaxEvaluations;
    return absl::InvalidArgumentError(absl::StrCat(
        "training.eval_every must be at least ", least, " for ", training.steps(),
        " steps (got ", training.eval_every(), "): a run validates at most ", kMaxEvaluations,
        " times (steps / eval_every), and every validation goes into the job's losses.json and "
        "figures."));
  }
  for (int i = 0; i < out.runs_size(); ++i) {
    if (auto error = core::Validate(convert::ToInitConfig(out.runs(i)))) return ToStatus(*error, i);
  }
  if (unnamed) out.set_name(JobNameFromDifferences(out));
  return out;
}

absl::StatusOr<std::string> ResolveOwner(const std::string& owner) {
  if (owner.empty()) return std::string(kDefaultOwner);
  if (absl::Status s = CheckName("owner", owner, kMaxOwnerLength); !s.ok()) return s;
  return owner;
}

namespace {

// The shortest text that reads back as the same double: 0.001, 1e-05, 0.9.
std::string Shortest(double value) {
  char text[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

const v1::JobSpec& LabSpec() {
  // Named, so that resolving it does not ask JobNameFromDifferences, which compares with it.
  static const v1::JobSpec* lab = [] {
    v1::JobSpec named;
    named.set_name(kDefaultJobName);
    return new v1::JobSpec(*ResolveSpec(named));
  }();
  return *lab;
}

}  // namespace

std::vector<Setting> TrainingSettings(const v1::JobSpec& resolved) {
  const v1::ModelSpec& m = resolved.model();
  const v1::DataSpec& d = resolved.data();
  const v1::TrainingSpec& t = resolved.training();
  return {
      {"depth", absl::StrCat(m.depth())},
      {"width", absl::StrCat(m.width())},
      {"input dim", absl::StrCat(m.input_dim())},
      {"train size", absl::StrCat(d.train_size())},
      {"val size", absl::StrCat(d.val_size())},
      {"label dims", absl::StrCat(d.label_dims())},
      {"steps", absl::StrCat(t.steps())},
      {"lr", Shortest(t.lr())},
      {"momentum", Shortest(t.momentum())},
      {"batch", absl::StrCat(t.batch())},
      {"eval every", absl::StrCat(t.eval_every())},
      {"stop on NaN", t.stop_on_nonfinite() ? "yes" : "no"},
  };
}

std::string UniformBounds(const v1::RunSpec& resolved) {
  return absl::StrCat("U[", Shortest(resolved.uniform_low()), ", ",
                      Shortest(resolved.uniform_high()), "]");
}

std::string RunLabel(const v1::JobSpec& resolved, int run_index) {
  const v1::RunSpec& run = resolved.runs(run_index);
  const v1::RunSpec& lab_run = LabSpec().runs(0);  // lab 1's uniform bounds
  std::string label = run.init();
  if (run.init() == "uniform" && (run.uniform_low() != lab_run.uniform_low() ||
                                  run.uniform_high() != lab_run.uniform_high())) {
    absl::StrAppend(&label, " ", UniformBounds(run));
  }
  absl::StrAppend(&label, " · seed ", run.weight_seed());
  const uint64_t data_seed = ToRunExperiment(ToExperiment(resolved), run).data.seed;
  if (data_seed != LabSpec().data().seed()) absl::StrAppend(&label, " · data seed ", data_seed);
  const std::vector<Setting> lab = TrainingSettings(LabSpec());
  const std::vector<Setting> mine = TrainingSettings(resolved);
  for (size_t i = 0; i < mine.size(); ++i) {
    if (mine[i] != lab[i]) absl::StrAppend(&label, " · ", mine[i].name, " ", mine[i].value);
  }
  return label;
}

std::string JobNameFromDifferences(const v1::JobSpec& resolved) {
  const std::vector<Setting> lab = TrainingSettings(LabSpec());
  const std::vector<Setting> mine = TrainingSettings(resolved);
  std::vector<std::string> parts;
  for (size_t i = 0; i < mine.size(); ++i) {
    if (mine[i] != lab[i]) parts.push_back(absl::StrCat(mine[i].name, " ", mine[i].value));
  }
  if (resolved.data().seed() != LabSpec().data().seed()) {
    parts.push_back(absl::StrCat("data seed ", resolved.data().seed()));
  }
  if (parts.empty()) return kDefaultJobName;
  std::string name = absl::StrJoin(parts, " · ");
  // Twelve settings of at most ~30 bytes each stay far below the limit; cut anyway, at a
  // separator, so the name is always valid.
  while (name.size() > static_cast<size_t>(kMaxNameLength)) {
    name.resize(name.rfind(" · "));
  }
  return name;
}

void LabelRuns(v1::Job& job) {
  for (v1::Run& run : *job.mutable_runs()) {
    if (run.index() >= 0 && run.index() < job.spec().runs_size()) {
      run.set_label(RunLabel(job.spec(), run.index()));
    }
  }
}

core::ExperimentConfig ToExperiment(const v1::JobSpec& resolved) {
  core::ExperimentConfig config;
  config.model = convert::ToModelConfig(resolved.model());
  config.data.train_size = resolved.data().train_size();
  config.data.val_size = resolved.data().val_size();
  config.data.label_dims = resolved.data().label_dims();
  config.data.seed = resolved.data().seed();
  config.train.steps = resolved.training().steps();
  config.train.lr = resolved.training().lr();
  config.train.momentum = resolved.training().momentum();
  config.train.batch = resolved.training().batch();
  config.train.eval_every = resolved.training().eval_every();
  config.train.stop_on_nonfinite = resolved.training().stop_on_nonfinite();
  return config;
}

core::ExperimentConfig ToRunExperiment(core::ExperimentConfig job, const v1::RunSpec& resolved) {
  if (resolved.has_data_seed()) job.data.seed = resolved.data_seed();
  return job;
}

}  // namespace ablate::jobs
