#include "core/run.h"

#include "core/data.h"

namespace ablate::core {

std::optional<RunResult> TrainRun(const RunPlan& plan, RunObserver* observer, std::stop_token stop,
                                  std::string* error) {
  // The data is regenerated per run from its seed rather than shared: runs stay independent of
  // where they execute, and generation costs milliseconds against seconds of training (seconds
  // for the largest sets, hence the stop token).
  std::optional<Dataset> data = MakeLabDataset(plan.config.data, plan.config.model.input_dim, stop);
  if (!data) {
    RunResult stopped;
    stopped.outcome = Outcome::kCancelled;
    return stopped;
  }
  Trainer trainer(plan.config, *data, plan.init);
  if (!plan.resume_from.empty() && !trainer.Restore(plan.resume_from, error)) {
    return std::nullopt;
  }
  return trainer.Run(observer, stop, plan.checkpoints);
}

}  // namespace ablate::core
