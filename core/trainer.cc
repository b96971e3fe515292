#include "core/trainer.h"

#include <algorithm>
#include <cfenv>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "core/analysis.h"
#include "core/checkpoint.h"
#include "core/fingerprint.h"
#include "core/init.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optim.h"

namespace ablate::core {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void MeanAndStd(const Matrix& m, double& mean, double& stddev) {
  const Eigen::ArrayXXd values = m.cast<double>().array();
  mean = values.mean();
  stddev = std::sqrt((values - mean).square().mean());
}

// The validation set cut into chunks of at most kEvalChunk examples, each with a buffer sized
// for it once, so that evaluation allocates nothing and its memory stays bounded.
constexpr int kEvalChunk = 256;

// With EIGEN_RUNTIME_NO_MALLOC (the no-allocation test builds the core that way), Eigen aborts
// on any heap allocation while this guard is alive.
class NoAllocationScope {
 public:
#ifdef EIGEN_RUNTIME_NO_MALLOC
  NoAllocationScope() { Eigen::internal::set_is_malloc_allowed(false); }
  ~NoAllocationScope() { Eigen::internal::set_is_malloc_allowed(true); }
#endif
};

// The C++ default floating-point environment (round to nearest, no flush-to-zero, no
// denormals-are-zero) for the scope's duration. The environment belongs to the thread, and a
// thread may inherit another from whoever created it; a run's numbers must not depend on which
// thread trains it.
class DefaultFloatingPoint {
 public:
  DefaultFloatingPoint() {
    std::fegetenv(&saved_);
    std::fesetenv(FE_DFL_ENV);
  }
  ~DefaultFloatingPoint() { std::fesetenv(&saved_); }
  DefaultFloatingPoint(const DefaultFloatingPoint&) = delete;
  DefaultFloatingPoint& operator=(const DefaultFloatingPoint&) = delete;

 private:
  std::fenv_t saved_;
};

}  // namespace

std::string DescribeOutcome(const RunResult& result) {
  switch (result.outcome) {
    case Outcome::kDiverged:
      return "diverged at step " + std::to_string(*result.first_nonfinite_step);
    case Outcome::kCancelled:
      return "cancelled at step " + std::to_string(result.steps_run);
    case Outcome::kCompleted:
      if (result.first_nonfinite_step) {
        return "completed, non-finite from step " + std::to_string(*result.first_nonfinite_step);
      }
      if (result.flatline_step) return "flatlined at step " + std::to_string(*result.flatline_step);
      return "completed";
  }
  return "unknown";
}

struct Trainer::State {
  State(const ExperimentConfig& config, const Dataset& data, const InitConfig& init, StepPath path)
      : config(config),
        run_digest(RunDigest(config, init)),
        data(data),
        model(config.model),
        optimizer(model, config.train.lr, config.train.momentum),
        sampler(data, config.train.batch, config.data.seed),
        train_ws(config.model, config.train.batch),
        train_step(model, optimizer, train_ws, path),
        batch_x(config.model.input_dim, config.train.batch),
        batch_y(config.train.batch),
        probe_ws(config.model, std::min(config.train.batch, config.data.val_size)),
        probe_x(data.val_x.leftCols(probe_ws.batch())) {
    model.Initialize(*FindInitScheme(init.scheme), init);
    for (int start = 0; start < config.data.val_size; start += kEvalChunk) {
      const int n = std::min(kEvalChunk, config.data.val_size - start);
      eval_chunks.push_back(EvalChunk{start, Workspace(config.model, n),
                                      data.val_x.middleCols(start, n),
                                      std::span(data.val_y).subspan(start, n)});
    }
  }

  struct EvalChunk {
    int start;
    Workspace ws;
    Matrix x;
    std::span<const int32_t> y;
  };

  EvalRecord Evaluate(int step) {
    double loss = 0, correct = 0;
    for (EvalChunk& chunk : eval_chunks) {
      const Matrix& logits = model.Forward(chunk.x, chunk.ws);
      const double n = static_cast<double>(chunk.y.size());
      loss += SoftmaxCrossEntropy(logits, chunk.y, nullptr) * n;
      correct += Accuracy(logits, chunk.y) * n;
    }
    const double total = config.data.val_size;
    return EvalRecord{step, static_cast<float>(loss / total), static_cast<float>(correct / total)};
  }

  std::vector<LayerStats> ProbeStats() {
    model.Forward(probe_x, probe_ws);
    std::vector<LayerStats> stats;
    const auto& layers = model.layers();
    for (size_t i = 0; i < layers.size(); ++i) {
      LayerStats s;
      double weight_mean = 0;
      MeanAndStd(layers[i].weight, weight_mean, s.weight_variance);
      s.weight_variance *= s.weight_variance;
      const Matrix& activation = i + 1 < layers.size() ? probe_ws.post[i] : probe_ws.pre[i];
      MeanAndStd(activation, s.activation_mean, s.activation_std);
      stats.push_back(s);
    }
    return stats;
  }

  // Tracks the loss's stretch at chance (core/analysis.h: judged on the loss alone).
  void TrackFlatline(int step, float loss) {
    const TrainConfig& t = config.train;
    core::TrackFlatline(flatline, step, loss, std::log(static_cast<double>(config.model.classes)),
                        t.flatline_tolerance, t.flatline_window);
  }

  TrainerSnapshot Snapshot() const {
    TrainerSnapshot snap;
    snap.header = {
        .step = step, .fingerprint = ThisBuildFingerprint().id, .run_digest = run_digest};
    snap.seconds = seconds;
    snap.flat_steps = flatline.flat_steps;
    snap.first_nonfinite_step = first_nonfinite_step;
    snap.flatline_step = flatline.flatline_step;
    snap.sampler = sampler.GetState();
    snap.init_stats = init_stats.value_or(std::vector<LayerStats>());
    for (const Linear& layer : model.layers()) {
      snap.weights.push_back(layer.weight);
      snap.biases.push_back(layer.bias);
    }
    snap.weight_velocity = optimizer.weight_velocity();
    snap.bias_velocity = optimizer.bias_velocity();
    return snap;
  }

  // Checks everything before changing anything, so a refused checkpoint leaves the state as
  // constructed.
  bool Restore(TrainerSnapshot snap, std::string* error) {
    auto fail = [error](std::string message) {
      if (error != nullptr) *error = std::move(message);
      return false;
    };
    const std::string& here = ThisBuildFingerprint().id;
    if (snap.header.fingerprint != here) {
      return fail("the checkpoint was written by a build with fingerprint " +
                  snap.header.fingerprint + ", this build's is " + here +
                  ": it would not continue the run bit for bit");
    }
    if (snap.header.run_digest != run_digest) {
      return fail("the checkpoint belongs to another run (its configuration differs)");
    }
    if (snap.header.step > config.train.steps) {
      return fail("the checkpoint is at step " + std::to_string(snap.header.step) +
                  ", past the run's " + std::to_string(config.train.steps) + " steps");
    }
    auto& layers = model.layers();
    bool fits = snap.weights.size() == layers.size() && snap.init_stats.size() == layers.size();
    for (size_t i = 0; fits && i < layers.size(); ++i) {
      const Linear& l = layers[i];
      fits =
          snap.weights[i].rows() == l.weight.rows() && snap.weights[i].cols() == l.weight.cols() &&
          snap.weight_velocity[i].rows() == l.weight.rows() &&
          snap.weight_velocity[i].cols() == l.weight.cols() &&
          snap.biases[i].size() == l.bias.size() && snap.bias_velocity[i].size() == l.bias.size();
    }
    if (!fits) return fail("the checkpoint's layers do not fit the run's model");
    if (!sampler.SetState(snap.sampler)) {
      return fail("the checkpoint's batch order does not fit the run's training set");
    }
    for (size_t i = 0; i < layers.size(); ++i) {
      layers[i].weight = std::move(snap.weights[i]);
      layers[i].bias = std::move(snap.biases[i]);
      optimizer.weight_velocity()[i] = std::move(snap.weight_velocity[i]);
      optimizer.bias_velocity()[i] = std::move(snap.bias_velocity[i]);
    }
    step = snap.header.step;
    seconds = snap.seconds;
    flatline.flat_steps = snap.flat_steps;
    first_nonfinite_step = snap.first_nonfinite_step;
    flatline.flatline_step = snap.flatline_step;
    init_stats = std::move(snap.init_stats);
    return true;
  }

  const ExperimentConfig config;
  const uint64_t run_digest;
  const Dataset& data;
  Mlp model;
  SgdMomentum optimizer;
  BatchSampler sampler;
  Workspace train_ws;
  TrainStep train_step;
  Matrix batch_x;
  std::vector<int32_t> batch_y;
  Workspace probe_ws;
  Matrix probe_x;
  std::vector<EvalChunk> eval_chunks;
  // Where the run stands; a checkpoint holds these with the weights, momentum and sampler.
  int step = 0;        // steps run: the updates applied, unless the last step diverged
  double seconds = 0;  // training wall time before `step`
  FlatlineState flatline;
  std::optional<int> first_nonfinite_step;
  std::optional<std::vector<LayerStats>> init_stats;  // taken when Run starts at step 0
};

Trainer::Trainer(const ExperimentConfig& config, const Dataset& data, const InitConfig& init)
    : Trainer(config, data, init, kDefaultStepPath) {}

Trainer::Trainer(const ExperimentConfig& config, const Dataset& data, const InitConfig& init,
                 StepPath path) {
  [[maybe_unused]] DefaultFloatingPoint fp;  // the init draws and the probe use floats too
  state_ = std::make_unique<State>(config, data, init, path);
}

Trainer::~Trainer() = default;

bool Trainer::Restore(std::string_view checkpoint, std::string* error) {
  std::optional<TrainerSnapshot> snap = DecodeCheckpoint(checkpoint, error);
  return snap && state_->Restore(*std::move(snap), error);
}

std::string Trainer::Checkpoint() const { return EncodeCheckpoint(state_->Snapshot()); }

RunResult Trainer::Run(RunObserver* observer, std::stop_token stop,
                       const CheckpointPolicy& checkpoints) {
  [[maybe_unused]] DefaultFloatingPoint fp;
  State& s = *state_;
  const TrainConfig& t = s.config.train;
  const Clock::time_point run_start = Clock::now();
  const double seconds_before = s.seconds;
  const int first_step = s.step;
  Clock::time_point last_checkpoint = run_start;
  RunResult result;
  if (!s.init_stats) s.init_stats = s.ProbeStats();
  auto report_eval = [&](int step) {
    const EvalRecord eval = s.Evaluate(step);
    if (observer != nullptr) observer->OnEval(eval);
    return eval;
  };
  auto checkpoint_due = [&](int step) {
    if (observer == nullptr || step == first_step) return false;
    if (checkpoints.every_steps > 0 && step % checkpoints.every_steps == 0) return true;
    return checkpoints.every_seconds > 0 &&
           SecondsSince(last_checkpoint) >= checkpoints.every_seconds;
  };

  for (int step = first_step; step < t.steps; ++step) {
    if (stop.stop_requested()) {
      result.outcome = Outcome::kCancelled;
      break;
    }
    if (checkpoint_due(step)) {
      s.seconds = seconds_before + SecondsSince(run_start);
      observer->OnCheckpoint(step, Checkpoint());
      last_checkpoint = Clock::now();
    }
    const Clock::time_point step_start = Clock::now();
    StepRecord record{.step = step};
    bool diverged = false;
    {
      [[maybe_unused]] NoAllocationScope no_allocation;
      s.sampler.Next(s.batch_x, s.batch_y);
      record.loss = s.train_step.ForwardAndLoss(s.batch_x, s.batch_y);
      if (!std::isfinite(record.loss) && !s.first_nonfinite_step) {
        s.first_nonfinite_step = step;
      }
      diverged = !std::isfinite(record.loss) && t.stop_on_nonfinite;
      if (!diverged) {
        record.weight_grad_norm = static_cast<float>(s.train_step.BackwardAndUpdate(s.batch_x));
      } else {
        record.weight_grad_norm = std::numeric_limits<float>::quiet_NaN();
      }
    }
    record.seconds = SecondsSince(step_start);
    if (step == 0 && !diverged) {
      const std::span<const double> sums = s.train_step.LayerSquaredSums();
      for (size_t l = 0; l < sums.size() && l < s.init_stats->size(); ++l) {
        (*s.init_stats)[l].first_step_grad_norm = std::sqrt(sums[l]);
      }
    }
    s.step = step + 1;
    result.final_loss = record.loss;
    if (observer != nullptr) observer->OnStep(record);
    if (diverged) {
      result.outcome = Outcome::kDiverged;
      break;
    }
    s.TrackFlatline(step, record.loss);
    const int updates = step + 1;
    if (updates % t.eval_every == 0 || updates == t.steps) {
      const EvalRecord eval = report_eval(updates);
      if (updates == t.steps) result.final_eval = eval;
    }
  }
  result.steps_run = s.step;
  result.first_nonfinite_step = s.first_nonfinite_step;
  result.flatline_step = s.flatline.flatline_step;
  result.init_stats = *s.init_stats;
  if (result.steps_run > 0) result.final_stats = s.ProbeStats();
  s.seconds = seconds_before + SecondsSince(run_start);
  result.seconds = s.seconds;
  return result;
}

}  // namespace ablate::core
