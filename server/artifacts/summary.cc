#include "server/artifacts/summary.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/config.h"
#include "server/artifacts/lab1_summary.h"
#include "server/artifacts/run_metrics.h"
#include "server/convert/core_messages.h"

namespace ablate::artifacts {

const char* GeneralisationName(Generalisation g) {
  switch (g) {
    case Generalisation::kNoValidation:
      return "no validation";
    case Generalisation::kGeneralises:
      return "generalises";
    case Generalisation::kMemorises:
      return "memorises";
    case Generalisation::kNotGeneralising:
      return "does not generalise";
    case Generalisation::kOverfits:
      return "overfits";
    case Generalisation::kTooFewExamples:
      return "too few validation examples";
  }
  return "unknown";
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kNoSteps:
      return "no steps";
    case Verdict::kDiverged:
      return "diverged";
    case Verdict::kFlatlined:
      return "flatlined";
    case Verdict::kTrained:
      return "trained";
    case Verdict::kLearning:
      return "learning";
    case Verdict::kNotLearning:
      return "not learning";
  }
  return "unknown";
}

absl::StatusOr<JobSummary> Summarize(const JobData& data, const Criteria& criteria) {
  const v1::Job& job = data.job;
  const v1::JobSpec& spec = job.spec();
  if (static_cast<int>(data.trajectories.size()) != job.runs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job.id(), " has ", job.runs_size(),
                                                   " runs but ", data.trajectories.size(),
                                                   " trajectories were given."));
  }
  JobSummary s;
  s.job = &job;
  s.criteria = criteria;
  s.chance = std::log(static_cast<double>(std::max(spec.model().classes(), 1)));
  const std::vector<core::LayerShape> shapes =
      core::LayerShapes(convert::ToModelConfig(spec.model()));

  std::map<std::string, int> init_count;
  for (const v1::Run& run : job.runs()) ++init_count[run.spec().init()];

  // Per run, whatever the lab (run_metrics.h).
  for (int i = 0; i < job.runs_size(); ++i) {
    const v1::Run& run = job.runs(i);
    const std::string& init = run.spec().init();
    std::string label =
        init_count[init] > 1 ? absl::StrCat(init, " (run ", run.id(), ")") : init;
    absl::StatusOr<RunSummary> r = metrics::SummarizeRun(
        job, i, data.trajectories[i], criteria, s.chance, shapes, std::move(label));
    if (!r.ok()) return r.status();
    s.runs.push_back(*std::move(r));
  }

  // What lab 1 asks of the runs (lab1_summary.h), and the spread over seeds.
  lab1::FillResults(s);
  lab1::PredictDepths(job, shapes, s);
  s.spreads = metrics::Spreads(s);
  lab1::RunPitfallChecks(spec, s);
  return s;
}

}  // namespace ablate::artifacts
