#include "server/artifacts/losses_json.h"

#include <cmath>

#include "server/artifacts/json_util.h"

namespace ablate::artifacts {

std::string RenderLossesJson(const JobSummary& summary) {
  const v1::Job& job = *summary.job;
  Json root;
  root["schema"] = kLossesSchema;
  root["format"] =
      "losses[s] is run's mean training cross-entropy at step s (after s updates), a float32 "
      "written as the shortest decimal that reads back as it; null where it was NaN or infinite, "
      "and nonfinite maps each such step to \"nan\", \"inf\" or \"-inf\". evals are validation "
      "results after `step` updates. Runs are in spec order; label is unique within the file.";
  root["job_id"] = job.id();
  root["job_name"] = job.name();
  root["steps_planned"] = job.spec().training().steps();
  root["chance_loss"] = summary.chance;
  Json runs = Json::array();
  for (const RunSummary& r : summary.runs) {
    Json run;
    run["run_id"] = r.run_id;
    run["index"] = r.index;
    run["label"] = r.label;
    run["init"] = r.init;
    run["formula"] = r.formula;
    run["weight_seed"] = r.weight_seed;
    run["data_seed"] = r.data_seed;
    run["outcome"] = r.outcome;
    run["steps"] = r.losses.size();
    Json losses = Json::array();
    for (float v : r.losses) losses.push_back(LossJson(v));
    run["losses"] = std::move(losses);
    run["first_nonfinite_step"] = OrNull(r.first_nonfinite_step);
    Json nonfinite = Json::object();
    for (const auto& [step, kind] : r.nonfinite) nonfinite[std::to_string(step)] = kind;
    run["nonfinite"] = std::move(nonfinite);
    run["flatline_step"] = OrNull(r.flatline_step);
    Json evals = Json::array();
    for (const v1::EvalResult& e : r.evals) {
      Json eval;
      eval["step"] = e.step();
      eval["loss"] = LossJson(e.loss());
      eval["accuracy"] = LossJson(e.accuracy());
      evals.push_back(std::move(eval));
    }
    run["evals"] = std::move(evals);
    runs.push_back(std::move(run));
  }
  root["runs"] = std::move(runs);
  return PrettyJson(root);
}

}  // namespace ablate::artifacts
