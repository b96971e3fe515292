// The configuration of one ablation experiment: the model, the data and the training loop that
// every run shares, and the init that each run varies. Defaults are lab 1's
// (shared/lab/lab-01-init-ablation.txt); every field's allowed range is below it.
#ifndef ABLATE_CORE_CONFIG_H_
#define ABLATE_CORE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ablate::core {

struct ModelConfig {
  // Number of Linear layers. depth 12 = input→width, width→width ten times, width→classes.
  int depth = 12;  // 1..kMaxDepth
  // Hidden width of every layer but the last.
  int width = 256;  // 1..kMaxWidth
  // Input dimension; also the dimension of the generated data.
  int input_dim = 256;  // 1..kMaxWidth
  // Output classes of the final Linear layer.
  int classes = 2;  // 2..kMaxClasses
};

struct DataConfig {
  int train_size = 1000;  // 1..kMaxExamples
  int val_size = 200;     // 1..kMaxExamples
  // The label is 1 when the sum of the first `label_dims` inputs is >= 0, else 0.
  int label_dims = 10;  // 1..input_dim; needs classes == 2
  // Seeds the examples and the per-epoch shuffle: one data seed gives every run the same
  // batch sequence, whatever its init.
  uint64_t seed = 1;
};

struct TrainConfig {
  int steps = 1000;  // 1..kMaxSteps
  int batch = 64;    // 1..data.train_size
  // SGD with momentum, torch.optim.SGD semantics (no dampening, no Nesterov, no weight decay).
  double lr = 1e-3;      // finite, (0, kMaxLr]
  double momentum = 0.9;  // [0, 1)
  // Validation loss and accuracy every `eval_every` steps and after the last step.
  int eval_every = 50;  // 1..kMaxSteps
  // Stop a run at its first non-finite loss (its outcome: diverged). When false the run goes on
  // and reports the non-finite losses.
  bool stop_on_nonfinite = true;
  // A run has flatlined when its loss has stayed within `flatline_tolerance` of chance
  // (ln classes) for `flatline_window` consecutive steps or more up to its last step
  // (core::TrackFlatline): judged on the loss, as the lab's "loss flatlines at random" is.
  int flatline_window = 20;           // 1..kMaxSteps
  double flatline_tolerance = 1e-2;   // > 0
  // No longer part of the test: a saturated network's gradient norm spikes now and then, and a
  // test that asked it to stay below this missed its flatline. Kept so that configs, run
  // digests (checkpoints) and worker messages written before read back the same.
  double flatline_grad_norm = 1e-4;   // > 0
};

// What every run of an experiment shares.
struct ExperimentConfig {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
};

// One Linear layer of the MLP: its weight is fan_out × fan_in.
struct LayerShape {
  int fan_in = 0;
  int fan_out = 0;
  bool operator==(const LayerShape&) const = default;
};

// The MLP's layers, input first: input_dim→width, then width→width, then width→classes (depth 1
// is input_dim→classes alone). The one statement of the architecture's shape: the model builds
// its layers from it, and validation, cost estimates and reports count with it. Empty when
// depth < 1.
std::vector<LayerShape> LayerShapes(const ModelConfig& model);

// What one run varies: its weight init. Biases always start at zero.
struct InitConfig {
  std::string scheme = "kaiming";  // a name in InitSchemes() (core/init.h)
  uint64_t weight_seed = 0;
  // Bounds of the `uniform` scheme; ignored (and not checked) for the others.
  double uniform_low = -0.5;   // finite, < uniform_high
  double uniform_high = 0.5;   // finite
};

inline constexpr int kMaxDepth = 64;
inline constexpr int kMaxWidth = 4096;
// The lab's label rule (GenerateData, data.h) makes two classes, so Validate accepts exactly 2.
inline constexpr int kMaxClasses = 2;
inline constexpr int kMaxExamples = 100000;
inline constexpr int kMaxSteps = 100000;
inline constexpr double kMaxLr = 10.0;
inline constexpr double kMaxUniformBound = 1e3;
// Weights, gradients and momentum take 12 bytes a parameter: 100M parameters is 1.2 GB.
inline constexpr long long kMaxParameters = 100'000'000;

// A refused configuration: the field, by its dotted name ("train.lr"), and one sentence that
// says what was wrong and what is allowed.
struct ConfigError {
  std::string field;
  std::string message;
};

// Returns the first field out of range, or nothing when the experiment can run.
std::optional<ConfigError> Validate(const ExperimentConfig& config);
std::optional<ConfigError> Validate(const InitConfig& init);

// Lab 1: the experiment and its three runs (uniform, xavier, kaiming), each with its own seed.
ExperimentConfig LabExperiment();
std::vector<InitConfig> LabRuns();

}  // namespace ablate::core

#endif  // ABLATE_CORE_CONFIG_H_
