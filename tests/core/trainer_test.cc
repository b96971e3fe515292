// Tests of core/trainer.h: what a run reports and when (steps, evals, layer statistics), how it
// ends (completed, diverged, cancelled, flatlined), and that a job is reproducible bit for bit.
#include "core/trainer.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "core/analysis.h"
#include "core/init.h"
#include "core/loss.h"
#include "core/model.h"

namespace ablate::core {
namespace {

// Records everything a run reports; optionally calls `on_step` after recording each step.
class Recorder : public RunObserver {
 public:
  void OnStep(const StepRecord& step) override {
    steps.push_back(step);
    if (on_step) on_step(step);
  }
  void OnEval(const EvalRecord& eval) override { evals.push_back(eval); }

  std::vector<float> Losses() const {
    std::vector<float> losses;
    for (const StepRecord& s : steps) losses.push_back(s.loss);
    return losses;
  }
  // The losses' bit patterns, so that NaNs compare equal to themselves.
  std::vector<uint32_t> LossBits() const {
    std::vector<uint32_t> bits;
    for (const StepRecord& s : steps) bits.push_back(std::bit_cast<uint32_t>(s.loss));
    return bits;
  }

  std::vector<StepRecord> steps;
  std::vector<EvalRecord> evals;
  std::function<void(const StepRecord&)> on_step;
};

// A small, fast experiment: 3 layers of width 16 on 8-dim inputs.
ExperimentConfig SmallExperiment() {
  ExperimentConfig config;
  config.model = {.depth = 3, .width = 16, .input_dim = 8, .classes = 2};
  config.data = {.train_size = 128, .val_size = 40, .label_dims = 4, .seed = 3};
  config.train.steps = 30;
  config.train.batch = 16;
  config.train.lr = 0.05;
  config.train.eval_every = 10;
  return config;
}

const InitConfig kKaiming{.scheme = "kaiming", .weight_seed = 7};

// Builds the data set and a trainer for one run, and runs it.
struct Job {
  Job(const ExperimentConfig& config, const InitConfig& init)
      : data(MakeLabDataset(config.data, config.model.input_dim)), trainer(config, data, init) {
    EXPECT_FALSE(Validate(config).has_value());
    EXPECT_FALSE(Validate(init).has_value());
  }
  RunResult Run(std::stop_token stop = {}) { return trainer.Run(&recorder, stop); }

  Dataset data;
  Trainer trainer;
  Recorder recorder;
};

double PopulationVariance(const Matrix& m) {
  const Eigen::ArrayXXd v = m.cast<double>().array();
  return (v - v.mean()).square().mean();
}

// ---------------------------------------------------------------------------------------------
// What a completed run reports.

TEST(TrainerTest, ObserverSeesEveryStepInOrder) {
  Job job(SmallExperiment(), kKaiming);
  const RunResult result = job.Run();
  ASSERT_EQ(job.recorder.steps.size(), 30u);
  for (int i = 0; i < 30; ++i) {
    const StepRecord& step = job.recorder.steps[i];
    EXPECT_EQ(step.step, i);
    EXPECT_TRUE(std::isfinite(step.loss)) << "step " << i;
    EXPECT_GT(step.loss, 0.0f) << "step " << i;
    EXPECT_TRUE(std::isfinite(step.weight_grad_norm)) << "step " << i;
    EXPECT_GT(step.weight_grad_norm, 0.0f) << "step " << i;
    EXPECT_GE(step.seconds, 0.0) << "step " << i;
  }
  EXPECT_EQ(result.outcome, Outcome::kCompleted);
  EXPECT_EQ(DescribeOutcome(result), "completed");
  EXPECT_EQ(result.steps_run, 30);
  EXPECT_EQ(result.final_loss, job.recorder.steps.back().loss);
  EXPECT_FALSE(result.first_nonfinite_step.has_value());
  EXPECT_FALSE(result.flatline_step.has_value());
}

TEST(TrainerTest, EvaluatesEveryEvalEveryStepsAndAtTheEnd) {
  ExperimentConfig config = SmallExperiment();
  config.train.steps = 25;
  Job job(config, kKaiming);
  const RunResult result = job.Run();
  ASSERT_EQ(job.recorder.evals.size(), 3u);
  EXPECT_EQ(job.recorder.evals[0].step, 10);
  EXPECT_EQ(job.recorder.evals[1].step, 20);
  EXPECT_EQ(job.recorder.evals[2].step, 25);
  for (const EvalRecord& eval : job.recorder.evals) {
    EXPECT_TRUE(std::isfinite(eval.loss));
    EXPECT_GE(eval.accuracy, 0.0f);
    EXPECT_LE(eval.accuracy, 1.0f);
  }
  ASSERT_TRUE(result.final_eval.has_value());
  EXPECT_EQ(result.final_eval->step, 25);
  EXPECT_EQ(result.final_eval->loss, job.recorder.evals.back().loss);
  EXPECT_EQ(result.final_eval->accuracy, job.recorder.evals.back().accuracy);
}

TEST(TrainerTest, LastEvalIsNotRepeatedWhenStepsIsAMultiple) {
  Job job(SmallExperiment(), kKaiming);  // 30 steps, eval every 10
  job.Run();
  ASSERT_EQ(job.recorder.evals.size(), 3u);
  EXPECT_EQ(job.recorder.evals[0].step, 10);
  EXPECT_EQ(job.recorder.evals[1].step, 20);
  EXPECT_EQ(job.recorder.evals[2].step, 30);
}

TEST(TrainerTest, EvalEveryBeyondStepsEvaluatesOnceAtTheEnd) {
  ExperimentConfig config = SmallExperiment();
  config.train.steps = 5;
  config.train.eval_every = 50;
  Job job(config, kKaiming);
  const RunResult result = job.Run();
  ASSERT_EQ(job.recorder.evals.size(), 1u);
  EXPECT_EQ(job.recorder.evals[0].step, 5);
  ASSERT_TRUE(result.final_eval.has_value());
}

TEST(TrainerTest, RunsWithoutAnObserver) {
  const ExperimentConfig config = SmallExperiment();
  Job observed(config, kKaiming);
  const RunResult with_observer = observed.Run();
  const Dataset data = MakeLabDataset(config.data, config.model.input_dim);
  Trainer trainer(config, data, kKaiming);
  const RunResult without = trainer.Run(nullptr);
  EXPECT_EQ(without.steps_run, 30);
  EXPECT_EQ(without.final_loss, with_observer.final_loss);
}

TEST(TrainerTest, LayerStatsHaveOneEntryPerLayerAndDescribeTheModel) {
  const ExperimentConfig config = SmallExperiment();
  Job job(config, kKaiming);
  const RunResult result = job.Run();
  ASSERT_EQ(result.init_stats.size(), 3u);
  ASSERT_EQ(result.final_stats.size(), 3u);

  // Rebuild the initial model and its probe batch (the first `batch` validation examples).
  Mlp mlp(config.model);
  mlp.Initialize(*FindInitScheme(kKaiming.scheme), kKaiming);
  const Matrix probe = job.data.val_x.leftCols(config.train.batch);
  Workspace ws(config.model, config.train.batch);
  mlp.Forward(probe, ws);
  for (size_t i = 0; i < 3; ++i) {
    const LayerStats& s = result.init_stats[i];
    EXPECT_NEAR(s.weight_variance, PopulationVariance(mlp.layers()[i].weight),
                1e-9 * s.weight_variance)
        << "layer " << i;
    const Matrix& activation = i + 1 < 3 ? ws.post[i] : ws.pre[i];
    const double mean = activation.cast<double>().mean();
    EXPECT_NEAR(s.activation_mean, mean, 1e-6) << "layer " << i;
    EXPECT_NEAR(s.activation_std, std::sqrt(PopulationVariance(activation)), 1e-6) << "layer " << i;
    if (i + 1 < 3) {
      EXPECT_GT(s.activation_mean, 0.0) << "post-ReLU of a live layer";
    }
  }
  // The first step's per-layer gradient norms: in init_stats only, and their squares add up to
  // the square of the step's whole norm.
  double squares = 0;
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(result.init_stats[i].first_step_grad_norm.has_value()) << "layer " << i;
    EXPECT_GT(*result.init_stats[i].first_step_grad_norm, 0.0) << "layer " << i;
    squares += *result.init_stats[i].first_step_grad_norm * *result.init_stats[i].first_step_grad_norm;
    EXPECT_FALSE(result.final_stats[i].first_step_grad_norm.has_value()) << "layer " << i;
  }
  ASSERT_FALSE(job.recorder.steps.empty());
  EXPECT_NEAR(std::sqrt(squares), job.recorder.steps[0].weight_grad_norm,
              1e-5 * job.recorder.steps[0].weight_grad_norm);
  // Training moved the weights.
  bool changed = false;
  for (size_t i = 0; i < 3; ++i) {
    changed |= result.final_stats[i].weight_variance != result.init_stats[i].weight_variance;
  }
  EXPECT_TRUE(changed);
}

TEST(TrainerTest, ChunkedEvaluationMatchesOnePassOverTheValidationSet) {
  // 600 validation examples are evaluated in chunks (of 256 in trainer.cc). An lr of 1e-30
  // leaves every weight unchanged in float (biases move by ~1e-31), so the eval after one step
  // is the initial model's, which is recomputed here in one pass.
  ExperimentConfig config = SmallExperiment();
  config.data.val_size = 600;
  config.train.steps = 1;
  config.train.lr = 1e-30;
  config.train.momentum = 0;
  Job job(config, kKaiming);
  const RunResult result = job.Run();
  ASSERT_TRUE(result.final_eval.has_value());

  Mlp mlp(config.model);
  mlp.Initialize(*FindInitScheme(kKaiming.scheme), kKaiming);
  Workspace ws(config.model, 600);
  const Matrix& logits = mlp.Forward(job.data.val_x, ws);
  EXPECT_NEAR(result.final_eval->loss, SoftmaxCrossEntropy(logits, job.data.val_y, nullptr), 1e-5);
  EXPECT_NEAR(result.final_eval->accuracy, Accuracy(logits, job.data.val_y), 1e-6);
}

TEST(TrainerTest, ShortRunLearnsTheLabelRule) {
  // Convergence: a 3-layer Kaiming net learns the rule on 16-dim inputs in 300 steps, whatever
  // its weight seed. (Its validation loss may rise again late in the run as it overfits 512
  // examples, so only accuracy and training loss are asserted.)
  ExperimentConfig config;
  config.model = {.depth = 3, .width = 32, .input_dim = 16, .classes = 2};
  config.data = {.train_size = 512, .val_size = 300, .label_dims = 4, .seed = 7};
  config.train.steps = 300;
  config.train.batch = 32;
  config.train.lr = 0.05;
  double accuracy_sum = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("weight seed " + std::to_string(seed));
    Job job(config, InitConfig{.scheme = "kaiming", .weight_seed = seed});
    const RunResult result = job.Run();
    ASSERT_EQ(result.outcome, Outcome::kCompleted);
    ASSERT_TRUE(result.final_eval.has_value());
    // Measured over seeds 1-8: final validation accuracy 0.940-0.973 (mean 0.955), validation
    // loss 0.087-0.199, training loss under 0.002 from about 0.7 at step 0.
    EXPECT_GT(result.final_eval->accuracy, 0.9f);
    EXPECT_LT(result.final_eval->loss, 0.5 * std::numbers::ln2);  // half of chance
    EXPECT_LT(result.final_loss, 0.05f);
    EXPECT_LT(result.final_loss, job.recorder.steps.front().loss / 10);
    accuracy_sum += result.final_eval->accuracy;
  }
  EXPECT_GT(accuracy_sum / 8, 0.93);
}

TEST(TrainerTest, SmallestValidConfigurationsRun) {
  // Every field at the low end of its range, one at a time: each run completes.
  struct Case {
    const char* name;
    std::function<void(ExperimentConfig&)> mutate;
  };
  const std::vector<Case> cases = {
      {"depth 1", [](ExperimentConfig& c) { c.model.depth = 1; }},
      {"width 1", [](ExperimentConfig& c) { c.model.width = 1; }},
      {"input_dim 1",
       [](ExperimentConfig& c) {
         c.model.input_dim = 1;
         c.data.label_dims = 1;
       }},
      {"one training example",
       [](ExperimentConfig& c) {
         c.data.train_size = 1;
         c.train.batch = 1;
       }},
      {"batch is the training set", [](ExperimentConfig& c) { c.train.batch = 128; }},
      {"one validation example (smaller than the batch)",
       [](ExperimentConfig& c) { c.data.val_size = 1; }},
      {"one step", [](ExperimentConfig& c) { c.train.steps = 1; }},
      {"eval every step", [](ExperimentConfig& c) { c.train.eval_every = 1; }},
      {"flatline window 1", [](ExperimentConfig& c) { c.train.flatline_window = 1; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ExperimentConfig config = SmallExperiment();
    config.train.steps = 10;
    c.mutate(config);
    Job job(config, kKaiming);
    const RunResult result = job.Run();
    EXPECT_EQ(result.outcome, Outcome::kCompleted);
    EXPECT_EQ(result.steps_run, config.train.steps);
    EXPECT_EQ(result.init_stats.size(), static_cast<size_t>(config.model.depth));
    EXPECT_EQ(result.final_stats.size(), static_cast<size_t>(config.model.depth));
    ASSERT_TRUE(result.final_eval.has_value());
    EXPECT_TRUE(std::isfinite(result.final_eval->loss));
    EXPECT_TRUE(std::isfinite(result.final_loss));
  }
}

// ---------------------------------------------------------------------------------------------
// Reproducibility.

TEST(TrainerTest, SameJobTwiceGivesBitIdenticalTrajectories) {
  // Lab shapes, 50 steps, each of the lab's three runs (uniform diverges: its NaN too must
  // come at the same step).
  ExperimentConfig config = LabExperiment();
  config.train.steps = 50;
  config.train.eval_every = 10;
  for (const InitConfig& init : LabRuns()) {
    SCOPED_TRACE(init.scheme);
    Job first(config, init);
    Job second(config, init);
    const RunResult a = first.Run();
    const RunResult b = second.Run();
    ASSERT_FALSE(first.recorder.steps.empty());
    EXPECT_EQ(first.recorder.LossBits(), second.recorder.LossBits());
    ASSERT_EQ(first.recorder.evals.size(), second.recorder.evals.size());
    for (size_t i = 0; i < first.recorder.evals.size(); ++i) {
      EXPECT_EQ(first.recorder.evals[i].loss, second.recorder.evals[i].loss);
      EXPECT_EQ(first.recorder.evals[i].accuracy, second.recorder.evals[i].accuracy);
    }
    EXPECT_EQ(a.outcome, b.outcome);
    EXPECT_EQ(a.first_nonfinite_step, b.first_nonfinite_step);
  }
}

TEST(TrainerTest, AnotherWeightSeedGivesAnotherTrajectory) {
  ExperimentConfig config = LabExperiment();
  config.train.steps = 50;
  InitConfig init = LabRuns()[2];
  Job first(config, init);
  init.weight_seed += 1;
  Job second(config, init);
  first.Run();
  second.Run();
  const std::vector<float> a = first.recorder.Losses(), b = second.recorder.Losses();
  ASSERT_EQ(a.size(), 50u);
  ASSERT_EQ(b.size(), 50u);
  int differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += a[i] != b[i];
  EXPECT_GT(differing, 45);
}

TEST(TrainerTest, AnotherDataSeedGivesAnotherTrajectory) {
  ExperimentConfig config = SmallExperiment();
  Job first(config, kKaiming);
  config.data.seed += 1;
  Job second(config, kKaiming);
  first.Run();
  second.Run();
  EXPECT_NE(first.recorder.Losses(), second.recorder.Losses());
}

// ---------------------------------------------------------------------------------------------
// Non-finite losses. The lab's uniform init blows the forward pass up within a few steps.

ExperimentConfig DivergingExperiment() {
  ExperimentConfig config = LabExperiment();
  config.train.steps = 20;
  return config;
}

TEST(TrainerTest, StopsAtTheFirstNonFiniteLoss) {
  Job job(DivergingExperiment(), LabRuns()[0]);
  const RunResult result = job.Run();
  const std::vector<float> losses = job.recorder.Losses();
  const std::optional<int> first_nan = FirstNonFinite(losses);
  ASSERT_TRUE(first_nan.has_value()) << "the lab's uniform init no longer diverges in 20 steps";
  const int n = *first_nan;
  EXPECT_EQ(result.outcome, Outcome::kDiverged);
  EXPECT_EQ(result.first_nonfinite_step, n);
  EXPECT_EQ(DescribeOutcome(result), "diverged at step " + std::to_string(n));
  // It stopped right there: the non-finite step is the last one reported.
  EXPECT_EQ(result.steps_run, n + 1);
  EXPECT_EQ(static_cast<int>(losses.size()), n + 1);
  EXPECT_FALSE(std::isfinite(result.final_loss));
  EXPECT_TRUE(std::isnan(job.recorder.steps.back().weight_grad_norm));
  EXPECT_FALSE(result.final_eval.has_value());
  EXPECT_FALSE(result.flatline_step.has_value());
}

TEST(TrainerTest, CanContinueThroughNonFiniteLosses) {
  ExperimentConfig config = DivergingExperiment();
  config.train.stop_on_nonfinite = false;
  Job job(config, LabRuns()[0]);
  const RunResult result = job.Run();
  EXPECT_EQ(result.outcome, Outcome::kCompleted);
  EXPECT_EQ(result.steps_run, 20);
  ASSERT_EQ(job.recorder.steps.size(), 20u);
  const std::optional<int> first_nan = FirstNonFinite(job.recorder.Losses());
  ASSERT_TRUE(first_nan.has_value());
  EXPECT_EQ(result.first_nonfinite_step, first_nan);
  EXPECT_TRUE(result.final_eval.has_value());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(job.recorder.steps[i].step, i);
}

// ---------------------------------------------------------------------------------------------
// Cancellation.

TEST(TrainerTest, StopRequestedFromOnStepCancelsWithinOneStep) {
  ExperimentConfig config = SmallExperiment();
  config.train.eval_every = 2;
  Job job(config, kKaiming);
  std::stop_source stop;
  job.recorder.on_step = [&](const StepRecord& step) {
    if (step.step == 4) stop.request_stop();
  };
  const RunResult result = job.Run(stop.get_token());
  EXPECT_EQ(result.outcome, Outcome::kCancelled);
  EXPECT_EQ(result.steps_run, 5);
  ASSERT_EQ(job.recorder.steps.size(), 5u);
  EXPECT_EQ(job.recorder.steps.back().step, 4);
  EXPECT_EQ(DescribeOutcome(result), "cancelled at step 5");
  EXPECT_FALSE(result.final_eval.has_value());
  // Evals after updates 2 and 4; the one after update 5's step was not yet due.
  ASSERT_EQ(job.recorder.evals.size(), 2u);
  EXPECT_EQ(job.recorder.evals.back().step, 4);
  EXPECT_EQ(result.final_stats.size(), 3u);
}

TEST(TrainerTest, StopRequestedBeforeRunRunsNoStep) {
  Job job(SmallExperiment(), kKaiming);
  std::stop_source stop;
  stop.request_stop();
  const RunResult result = job.Run(stop.get_token());
  EXPECT_EQ(result.outcome, Outcome::kCancelled);
  EXPECT_EQ(result.steps_run, 0);
  EXPECT_TRUE(job.recorder.steps.empty());
  EXPECT_TRUE(job.recorder.evals.empty());
  EXPECT_EQ(DescribeOutcome(result), "cancelled at step 0");
  EXPECT_EQ(result.init_stats.size(), 3u);
  EXPECT_TRUE(result.final_stats.empty());
}

TEST(TrainerTest, StopRequestedAfterTheLastStepLeavesTheRunCompleted) {
  Job job(SmallExperiment(), kKaiming);
  std::stop_source stop;
  job.recorder.on_step = [&](const StepRecord& step) {
    if (step.step == 29) stop.request_stop();
  };
  const RunResult result = job.Run(stop.get_token());
  EXPECT_EQ(result.outcome, Outcome::kCompleted);
  EXPECT_EQ(result.steps_run, 30);
  EXPECT_TRUE(result.final_eval.has_value());
}

// ---------------------------------------------------------------------------------------------
// Flatline: a dead network. With every weight in [-0.5, -0.4] and zero biases, layer 0 sees
// signed inputs, but from layer 1 on every input is >= 0 and every weight negative, so every
// pre-activation is <= 0 and every ReLU is dead: the logits are the last bias, the loss is
// ln 2 and every weight gradient is exactly zero. Only the last bias can learn, slowly.

ExperimentConfig DeadExperiment() {
  ExperimentConfig config;
  config.model = {.depth = 4, .width = 16, .input_dim = 8, .classes = 2};
  config.data = {.train_size = 256, .val_size = 40, .label_dims = 4, .seed = 3};
  config.train.steps = 40;
  config.train.batch = 64;
  config.train.lr = 1e-3;
  return config;
}

const InitConfig kDeadInit{
    .scheme = "uniform", .weight_seed = 5, .uniform_low = -0.5, .uniform_high = -0.4};

// The first step of `window` consecutive steps that meet the documented flatline rule.
std::optional<int> FlatlineStart(const std::vector<StepRecord>& steps, const TrainConfig& t) {
  int run = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const bool flat = std::abs(steps[i].loss - std::numbers::ln2) < t.flatline_tolerance &&
                      steps[i].weight_grad_norm < t.flatline_grad_norm;
    run = flat ? run + 1 : 0;
    if (run == t.flatline_window) return static_cast<int>(i) - t.flatline_window + 1;
  }
  return std::nullopt;
}

TEST(TrainerTest, FlatlineFiresOnADeadNetwork) {
  const ExperimentConfig config = DeadExperiment();
  Job job(config, kDeadInit);
  const RunResult result = job.Run();
  // The network is dead from the start: hidden layers 1 and 2 output exactly zero.
  ASSERT_EQ(result.init_stats.size(), 4u);
  EXPECT_EQ(result.init_stats[1].activation_mean, 0.0);
  EXPECT_EQ(result.init_stats[2].activation_mean, 0.0);
  for (const StepRecord& step : job.recorder.steps) {
    EXPECT_EQ(step.weight_grad_norm, 0.0f) << "step " << step.step;
    EXPECT_NEAR(step.loss, std::numbers::ln2, 1e-2) << "step " << step.step;
  }
  EXPECT_EQ(job.recorder.steps.front().loss, static_cast<float>(std::numbers::ln2));

  ASSERT_TRUE(result.flatline_step.has_value());
  EXPECT_EQ(result.flatline_step, FlatlineStart(job.recorder.steps, config.train));
  EXPECT_EQ(*result.flatline_step, 0);
  EXPECT_EQ(result.outcome, Outcome::kCompleted);
  EXPECT_EQ(result.steps_run, 40);
  EXPECT_EQ(DescribeOutcome(result), "flatlined at step 0");
}

TEST(TrainerTest, FlatlineNeedsAFullWindow) {
  ExperimentConfig config = DeadExperiment();
  config.train.steps = config.train.flatline_window - 1;
  Job short_job(config, kDeadInit);
  EXPECT_FALSE(short_job.Run().flatline_step.has_value());

  config.train.steps = config.train.flatline_window;
  Job exact_job(config, kDeadInit);
  EXPECT_EQ(exact_job.Run().flatline_step, 0);
}

TEST(TrainerTest, HealthyRunDoesNotFlatline) {
  ExperimentConfig config = DeadExperiment();
  config.train.lr = 0.05;
  Job job(config, kKaiming);
  const RunResult result = job.Run();
  EXPECT_FALSE(result.flatline_step.has_value());
  EXPECT_EQ(DescribeOutcome(result), "completed");
}

}  // namespace
}  // namespace ablate::core
