// Tests of core/checkpoint.h and Trainer::Restore: a run resumed from a checkpoint continues
// bit for bit as if never interrupted, for every init and every way a run can end; a
// checkpoint that is damaged, another run's or another build's is refused with a sentence.
#include "core/checkpoint.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/fingerprint.h"
#include "core/init.h"
#include "core/run.h"
#include "core/trainer.h"

namespace ablate::core {
namespace {

// Everything a run reports, as bits, keyed by step; and every checkpoint it hands out.
class Recorder : public RunObserver {
 public:
  void OnStep(const StepRecord& step) override {
    steps[step.step] = {std::bit_cast<uint32_t>(step.loss),
                        std::bit_cast<uint32_t>(step.weight_grad_norm)};
  }
  void OnEval(const EvalRecord& eval) override {
    evals[eval.step] = {std::bit_cast<uint32_t>(eval.loss), std::bit_cast<uint32_t>(eval.accuracy)};
  }
  void OnCheckpoint(int step, std::string_view checkpoint) override {
    checkpoints[step] = std::string(checkpoint);
  }
  std::map<int, std::vector<uint32_t>> steps, evals;
  std::map<int, std::string> checkpoints;
};

std::vector<uint64_t> StatsBits(const std::vector<LayerStats>& stats) {
  std::vector<uint64_t> bits;
  for (const LayerStats& s : stats) {
    for (double v : {s.weight_variance, s.activation_mean, s.activation_std,
                     s.first_step_grad_norm.value_or(-1)}) {
      bits.push_back(std::bit_cast<uint64_t>(v));
    }
  }
  return bits;
}

ExperimentConfig SmallExperiment() {
  ExperimentConfig config;
  config.model = {.depth = 5, .width = 32, .input_dim = 16, .classes = 2};
  config.data = {.train_size = 200, .val_size = 50, .label_dims = 4, .seed = 3};
  config.train.steps = 45;  // 200 / 16 = 12 batches an epoch: the resume lands mid-epoch
  config.train.batch = 16;
  config.train.lr = 0.02;
  config.train.eval_every = 10;
  return config;
}

struct Trained {
  Recorder recorder;
  RunResult result;
};

// Trains from step 0, handing out a checkpoint every `every` steps.
Trained TrainWhole(const ExperimentConfig& config, const InitConfig& init, int every) {
  const Dataset data = MakeLabDataset(config.data, config.model.input_dim);
  Trained out;
  Trainer trainer(config, data, init);
  out.result = trainer.Run(&out.recorder, {}, CheckpointPolicy{.every_steps = every});
  return out;
}

// A fresh trainer (as in a new process) restored from `checkpoint`.
Trained TrainResumed(const ExperimentConfig& config, const InitConfig& init,
                     const std::string& checkpoint) {
  const Dataset data = MakeLabDataset(config.data, config.model.input_dim);
  Trained out;
  Trainer trainer(config, data, init);
  std::string error;
  EXPECT_TRUE(trainer.Restore(checkpoint, &error)) << error;
  out.result = trainer.Run(&out.recorder);
  return out;
}

// Every step, eval and result field of `resumed` equals the uninterrupted run's from `from` on.
void ExpectContinues(const Trained& whole, const Trained& resumed, int from) {
  std::map<int, std::vector<uint32_t>> tail(whole.recorder.steps.lower_bound(from),
                                            whole.recorder.steps.end());
  EXPECT_EQ(resumed.recorder.steps, tail);
  std::map<int, std::vector<uint32_t>> eval_tail(whole.recorder.evals.upper_bound(from),
                                                 whole.recorder.evals.end());
  EXPECT_EQ(resumed.recorder.evals, eval_tail);
  const RunResult& a = whole.result;
  const RunResult& b = resumed.result;
  EXPECT_EQ(b.outcome, a.outcome);
  EXPECT_EQ(b.steps_run, a.steps_run);
  EXPECT_EQ(b.first_nonfinite_step, a.first_nonfinite_step);
  EXPECT_EQ(b.flatline_step, a.flatline_step);
  EXPECT_EQ(std::bit_cast<uint32_t>(b.final_loss), std::bit_cast<uint32_t>(a.final_loss));
  ASSERT_EQ(b.final_eval.has_value(), a.final_eval.has_value());
  if (a.final_eval) {
    EXPECT_EQ(std::bit_cast<uint32_t>(b.final_eval->loss),
              std::bit_cast<uint32_t>(a.final_eval->loss));
  }
  EXPECT_EQ(StatsBits(b.init_stats), StatsBits(a.init_stats));
  EXPECT_EQ(StatsBits(b.final_stats), StatsBits(a.final_stats));
}

class ResumeTest : public testing::TestWithParam<std::string> {};

TEST_P(ResumeTest, ContinuesBitForBitFromEveryCheckpoint) {
  const ExperimentConfig config = SmallExperiment();
  const InitConfig init{.scheme = GetParam(), .weight_seed = 11};
  const Trained whole = TrainWhole(config, init, 10);
  ASSERT_EQ(whole.result.steps_run, 45);
  ASSERT_EQ(whole.recorder.checkpoints.size(), 4u);  // at steps 10, 20, 30, 40
  for (const auto& [step, checkpoint] : whole.recorder.checkpoints) {
    SCOPED_TRACE("resumed at step " + std::to_string(step));
    ExpectContinues(whole, TrainResumed(config, init, checkpoint), step);
  }
}

std::vector<std::string> AllSchemes() {
  std::vector<std::string> names;
  for (const InitScheme& s : InitSchemes()) names.emplace_back(s.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(EveryInit, ResumeTest, testing::ValuesIn(AllSchemes()),
                         [](const auto& info) { return info.param; });

// A run that goes on through non-finite losses keeps its first non-finite step across a resume.
TEST(CheckpointTest, ResumeAfterTheFirstNonFiniteLossKeepsIt) {
  ExperimentConfig config = LabExperiment();
  config.train.steps = 12;
  config.train.stop_on_nonfinite = false;
  const InitConfig init = LabRuns()[0];  // uniform: non-finite within a few steps
  const Trained whole = TrainWhole(config, init, 5);
  ASSERT_TRUE(whole.result.first_nonfinite_step.has_value());
  ASSERT_LT(*whole.result.first_nonfinite_step, 10);
  ExpectContinues(whole, TrainResumed(config, init, whole.recorder.checkpoints.at(10)), 10);
}

// A dead network flatlines from step 0 (window 20); resumed at step 10, inside the window, the
// count carries over and the flatline is still found at step 0.
TEST(CheckpointTest, ResumeInsideAFlatlineWindowStillFindsIt) {
  ExperimentConfig config;
  config.model = {.depth = 4, .width = 16, .input_dim = 8, .classes = 2};
  config.data = {.train_size = 256, .val_size = 40, .label_dims = 4, .seed = 3};
  config.train.steps = 40;
  config.train.batch = 64;
  const InitConfig dead{
      .scheme = "uniform", .weight_seed = 5, .uniform_low = -0.5, .uniform_high = -0.4};
  const Trained whole = TrainWhole(config, dead, 10);
  ASSERT_EQ(whole.result.flatline_step, 0);
  ExpectContinues(whole, TrainResumed(config, dead, whole.recorder.checkpoints.at(10)), 10);
}

TEST(CheckpointTest, PolicyBySecondsAndNeverAtTheStartOrTheEnd) {
  const ExperimentConfig config = SmallExperiment();
  const InitConfig init{.scheme = "kaiming", .weight_seed = 1};
  const Dataset data = MakeLabDataset(config.data, config.model.input_dim);
  Recorder every_step;
  Trainer a(config, data, init);
  a.Run(&every_step, {}, CheckpointPolicy{.every_seconds = 1e-9});  // due before every step
  ASSERT_EQ(every_step.checkpoints.size(), 44u);
  EXPECT_EQ(every_step.checkpoints.begin()->first, 1);
  EXPECT_EQ(every_step.checkpoints.rbegin()->first, 44);
  Recorder none;
  Trainer b(config, data, init);
  b.Run(&none, {}, CheckpointPolicy{});
  EXPECT_TRUE(none.checkpoints.empty());
}

TEST(CheckpointTest, HeaderSaysStepFingerprintAndRun) {
  const ExperimentConfig config = SmallExperiment();
  const InitConfig init{.scheme = "xavier", .weight_seed = 4};
  const Trained whole = TrainWhole(config, init, 20);
  std::string error;
  const std::optional<CheckpointHeader> header =
      ReadCheckpointHeader(whole.recorder.checkpoints.at(20), &error);
  ASSERT_TRUE(header.has_value()) << error;
  EXPECT_EQ(header->step, 20);
  EXPECT_EQ(header->fingerprint, ThisBuildFingerprint().id);
  EXPECT_EQ(header->run_digest, RunDigest(config, init));
}

TEST(CheckpointTest, EncodeDecodeRoundTrips) {
  const ExperimentConfig config = SmallExperiment();
  const InitConfig init{.scheme = "kaiming", .weight_seed = 2};
  const std::string bytes = TrainWhole(config, init, 20).recorder.checkpoints.at(20);
  std::string error;
  std::optional<TrainerSnapshot> snap = DecodeCheckpoint(bytes, &error);
  ASSERT_TRUE(snap.has_value()) << error;
  EXPECT_EQ(snap->header.step, 20);
  EXPECT_EQ(snap->weights.size(), 5u);
  EXPECT_EQ(snap->sampler.order.size(), 200u);
  EXPECT_EQ(EncodeCheckpoint(*snap), bytes);
}

TEST(CheckpointTest, RefusesDamagedTruncatedAndForeignCheckpoints) {
  const ExperimentConfig config = SmallExperiment();
  const InitConfig init{.scheme = "kaiming", .weight_seed = 2};
  const std::string good = TrainWhole(config, init, 20).recorder.checkpoints.at(20);
  const Dataset data = MakeLabDataset(config.data, config.model.input_dim);
  auto refusal = [&](const ExperimentConfig& c, const InitConfig& i, const std::string& bytes) {
    Trainer trainer(c, data, i);
    std::string error;
    EXPECT_FALSE(trainer.Restore(bytes, &error));
    return error;
  };
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_NE(refusal(config, init, flipped).find("damaged"), std::string::npos);
  EXPECT_NE(refusal(config, init, good.substr(0, good.size() - 100)).find("damaged"),
            std::string::npos);
  EXPECT_NE(refusal(config, init, "not a checkpoint").find("not an Ablate checkpoint"),
            std::string::npos);
  InitConfig other_seed = init;
  other_seed.weight_seed = 3;
  EXPECT_NE(refusal(config, other_seed, good).find("another run"), std::string::npos);
  ExperimentConfig other_lr = config;
  other_lr.train.lr = 0.03;
  EXPECT_NE(refusal(other_lr, init, good).find("another run"), std::string::npos);

  std::optional<TrainerSnapshot> snap = DecodeCheckpoint(good, nullptr);
  ASSERT_TRUE(snap.has_value());
  snap->header.fingerprint = "fp1-0000000000000000";
  const std::string error = refusal(config, init, EncodeCheckpoint(*snap));
  EXPECT_NE(error.find("fp1-0000000000000000"), std::string::npos) << error;
  EXPECT_NE(error.find(ThisBuildFingerprint().id), std::string::npos) << error;

  snap = DecodeCheckpoint(good, nullptr);
  std::swap(snap->sampler.order[0], snap->sampler.order[1]);
  snap->sampler.order[1] = snap->sampler.order[0];  // no longer a permutation
  EXPECT_NE(refusal(config, init, EncodeCheckpoint(*snap)).find("batch order"), std::string::npos);
}

TEST(CheckpointTest, Crc32cMatchesThePublishedCheckValue) {
  // RFC 3720, appendix B.4: CRC-32C of "123456789" is 0xE3069283.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c("56789", Crc32c("1234")), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(CheckpointTest, RunDigestSeesEveryField) {
  const ExperimentConfig config = SmallExperiment();
  const InitConfig init{.scheme = "uniform", .weight_seed = 2};
  const uint64_t base = RunDigest(config, init);
  ExperimentConfig c = config;
  c.data.seed = 4;
  EXPECT_NE(RunDigest(c, init), base);
  c = config;
  c.train.momentum = 0.8;
  EXPECT_NE(RunDigest(c, init), base);
  c = config;
  c.train.stop_on_nonfinite = false;
  EXPECT_NE(RunDigest(c, init), base);
  InitConfig i = init;
  i.uniform_high = 0.25;
  EXPECT_NE(RunDigest(config, i), base);
  i = init;
  i.scheme = "xavier";
  EXPECT_NE(RunDigest(config, i), base);
  EXPECT_EQ(RunDigest(config, init), base);
}

TEST(FingerprintTest, DescribesEveryPart) {
  const BuildFingerprint& f = ThisBuildFingerprint();
  EXPECT_EQ(f.id.rfind("fp1-", 0), 0u);
  EXPECT_EQ(f.id.size(), 20u);
  EXPECT_EQ(f.core_sources.size(), 64u);
  EXPECT_FALSE(f.compiler.empty());
  EXPECT_NE(f.flags.find("-O"), std::string::npos) << f.flags;
  EXPECT_NE(f.libm.find("glibc"), std::string::npos);
  const std::string text = f.Describe();
  for (const char* part : {"id: ", "core sources: ", "compiler: ", "flags: ", "instruction sets: ",
                           "Eigen: ", "BLAS: ", "math library: "}) {
    EXPECT_NE(text.find(part), std::string::npos) << part;
  }
}

TEST(DataTest, StoppedGenerationGivesNothing) {
  DataConfig data;
  std::stop_source stop;
  stop.request_stop();
  EXPECT_FALSE(MakeLabDataset(data, 256, stop.get_token()).has_value());
  EXPECT_TRUE(MakeLabDataset(data, 256, std::stop_token()).has_value());
}

TEST(TrainRunTest, ResumesFromThePlansCheckpoint) {
  const ExperimentConfig config = SmallExperiment();
  const InitConfig init{.scheme = "orthogonal", .weight_seed = 6};
  const Trained whole = TrainWhole(config, init, 10);
  Recorder resumed;
  std::string error;
  RunPlan plan;
  plan.config = config;
  plan.init = init;
  plan.resume_from = whole.recorder.checkpoints.at(30);
  const std::optional<RunResult> result = TrainRun(plan, &resumed, {}, &error);
  ASSERT_TRUE(result.has_value()) << error;
  EXPECT_EQ(resumed.steps.begin()->first, 30);
  EXPECT_EQ(resumed.steps, decltype(resumed.steps)(whole.recorder.steps.lower_bound(30),
                                                   whole.recorder.steps.end()));
  EXPECT_EQ(result->steps_run, 45);
}

TEST(TrainRunTest, RefusedCheckpointSaysWhy) {
  const ExperimentConfig config = SmallExperiment();
  std::string error;
  RunPlan plan;
  plan.config = config;
  plan.init.scheme = "kaiming";
  plan.resume_from = "garbage";
  EXPECT_FALSE(TrainRun(plan, nullptr, {}, &error).has_value());
  EXPECT_NE(error.find("not an Ablate checkpoint"), std::string::npos) << error;
}

TEST(TrainRunTest, StopDuringDataGenerationCancelsWithoutAStep) {
  std::stop_source stop;
  stop.request_stop();
  Recorder recorder;
  std::string error;
  RunPlan plan;
  plan.config = SmallExperiment();
  plan.init.scheme = "kaiming";
  const std::optional<RunResult> result = TrainRun(plan, &recorder, stop.get_token(), &error);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->outcome, Outcome::kCancelled);
  EXPECT_EQ(result->steps_run, 0);
  EXPECT_TRUE(recorder.steps.empty());
}

}  // namespace
}  // namespace ablate::core
