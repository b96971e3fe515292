// One run from start to end, wherever it trains: a thread of the server or a worker process on
// a cluster node. Both call TrainRun, so a run is the same computation on every executor.
#ifndef ABLATE_CORE_RUN_H_
#define ABLATE_CORE_RUN_H_

#include <optional>
#include <stop_token>
#include <string>

#include "core/config.h"
#include "core/trainer.h"

namespace ablate::core {

struct RunPlan {
  ExperimentConfig config;  // validated
  InitConfig init;          // validated
  // A checkpoint of this run (core/checkpoint.h) to continue from; empty starts at step 0.
  std::string resume_from;
  CheckpointPolicy checkpoints;
};

// Generates the run's data from its seed, builds the model with its init (restored from
// plan.resume_from when given) and trains it to the end, reporting to `observer` (may be null)
// on the calling thread. A stop requested while the data is generated ends the run at once,
// cancelled, without a step. Nothing, with one sentence in *error, when the run cannot start:
// its checkpoint is refused (Trainer::Restore says why).
std::optional<RunResult> TrainRun(const RunPlan& plan, RunObserver* observer, std::stop_token stop,
                                  std::string* error);

}  // namespace ablate::core

#endif  // ABLATE_CORE_RUN_H_
