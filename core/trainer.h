// One run of an experiment: builds the model with its init, trains it step by step on the
// shared batch sequence, and reports every step.
#ifndef ABLATE_CORE_TRAINER_H_
#define ABLATE_CORE_TRAINER_H_

#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/data.h"
#include "core/train_step.h"

namespace ablate::core {

struct StepRecord {
  int step = 0;                // 0-based: the number of updates applied before this loss
  float loss = 0;              // mean training cross-entropy of this step's batch
  float weight_grad_norm = 0;  // see Mlp::WeightGradNorm
  double seconds = 0;          // wall time of this step (forward, backward, update)
};

struct EvalRecord {
  int step = 0;        // evaluated after this many updates
  float loss = 0;      // mean validation cross-entropy
  float accuracy = 0;  // validation accuracy in [0, 1]
};

// One layer's statistics on a fixed probe batch (the first `batch` validation examples): the
// lab's "hint of last resort", recorded for every run at init and at the end.
struct LayerStats {
  double weight_variance = 0;  // population variance (divided by n) of the layer's weights
  double activation_mean = 0;  // of its output: post-ReLU, or the logits for the last layer
  double activation_std = 0;   // population standard deviation (divided by n), as the variance
  // The L2 norm of the layer's weight gradient in the run's first step (step 0): with the
  // activations above, how the init's signal scales backwards through the layers. Only in
  // init_stats, and absent when step 0 produced a non-finite loss and stopped the run.
  std::optional<double> first_step_grad_norm;
};

enum class Outcome {
  kCompleted,  // ran every step (it may still have flatlined: see flatline_step)
  kDiverged,   // stopped at its first non-finite loss
  kCancelled,  // stopped on request
};

struct RunResult {
  Outcome outcome = Outcome::kCompleted;
  int steps_run = 0;                        // steps whose loss was reported
  std::optional<int> first_nonfinite_step;  // even when the run went on past it
  std::optional<int> flatline_step;         // first step of the stretch at chance (TrainConfig)
  float final_loss = 0;                     // loss of the last step run
  std::optional<EvalRecord> final_eval;     // after the last step, unless diverged/cancelled
  std::vector<LayerStats> init_stats;
  std::vector<LayerStats> final_stats;  // empty when no step ran
  double seconds = 0;
};

// "completed", "flatlined at step N", "diverged at step N", "cancelled at step N", or, for a
// run told to go on past non-finite losses, "completed, non-finite from step N".
std::string DescribeOutcome(const RunResult& result);

// Receives a run's progress on the training thread. Must not block for long: the next step
// waits for it.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void OnStep(const StepRecord& /*step*/) {}
  virtual void OnEval(const EvalRecord& /*eval*/) {}
  // A checkpoint (core/checkpoint.h) of the run after `step` updates, taken between two steps
  // as the CheckpointPolicy asks. The bytes are valid during the call only.
  virtual void OnCheckpoint(int /*step*/, std::string_view /*checkpoint*/) {}
};

// When Run hands the observer a checkpoint: after every `every_steps` updates, or when
// `every_seconds` have passed since the last one (or the start), whichever comes first; 0 turns
// either off. Never at the step a run started or resumed from, nor after its last step.
struct CheckpointPolicy {
  int every_steps = 0;
  double every_seconds = 0;
};

class Trainer {
 public:
  // Requires: Validate(config) and Validate(init) found nothing. Borrows `data`, which must
  // outlive the trainer and be MakeLabDataset(config.data, config.model.input_dim).
  Trainer(const ExperimentConfig& config, const Dataset& data, const InitConfig& init);
  // The same, stepping with `path` instead of kDefaultStepPath (core/train_step.h): the results
  // are the same bits either way.
  Trainer(const ExperimentConfig& config, const Dataset& data, const InitConfig& init,
          StepPath path);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Continues from `checkpoint` instead of step 0: Run then starts with the checkpoint's step,
  // and the run's steps from there are bit-identical to those of a run never interrupted.
  // Returns false, changing nothing, with one sentence in *error, when the checkpoint is not
  // intact, belongs to another run (RunDigest) or another build (core/fingerprint.h), or does
  // not fit the model. Call before Run.
  bool Restore(std::string_view checkpoint, std::string* error);

  // Trains until config.train.steps steps have run (from step 0, or from a restored
  // checkpoint's step) on the calling thread, reporting each to `observer` (may be null), with
  // checkpoints as `checkpoints` asks. Checks `stop` before every step and returns within one
  // step of a request. Call once.
  RunResult Run(RunObserver* observer, std::stop_token stop = {},
                const CheckpointPolicy& checkpoints = {});

  // The state after the updates applied so far, encoded (core/checkpoint.h). Between steps only.
  std::string Checkpoint() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ablate::core

#endif  // ABLATE_CORE_TRAINER_H_
