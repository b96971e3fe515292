// Lab 1's headline result on its full default configuration (LabExperiment() and LabRuns():
// 12 layers of width 256, 1000 steps, SGD momentum 0.9 at lr 1e-3, batch 64), as its stop
// conditions state it: the uniform run diverges or flatlines, the Kaiming run trains, the
// Xavier run lies in between. A 1000-step run takes a few seconds.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "core/analysis.h"
#include "core/config.h"
#include "core/data.h"
#include "core/trainer.h"

namespace ablate::core {
namespace {

class LossRecorder : public RunObserver {
 public:
  void OnStep(const StepRecord& step) override { losses.push_back(step.loss); }
  std::vector<float> losses;
};

struct LabRun {
  RunResult result;
  std::vector<float> losses;
};

// Runs the lab's run of `scheme` on the lab's data.
LabRun RunLab(const std::string& scheme) {
  const ExperimentConfig config = LabExperiment();
  EXPECT_FALSE(Validate(config).has_value());
  const Dataset data = MakeLabDataset(config.data, config.model.input_dim);
  for (const InitConfig& init : LabRuns()) {
    if (init.scheme != scheme) continue;
    Trainer trainer(config, data, init);
    LossRecorder recorder;
    RunResult result = trainer.Run(&recorder);
    return LabRun{std::move(result), std::move(recorder.losses)};
  }
  ADD_FAILURE() << "LabRuns() has no " << scheme << " run";
  return {};
}

TEST(LabTest, UniformDivergesOrFlatlinesWithinFiftySteps) {
  const LabRun uniform = RunLab("uniform");
  const RunResult& r = uniform.result;
  const bool diverged = r.first_nonfinite_step.has_value() && *r.first_nonfinite_step < 50;
  const bool flatlined = r.flatline_step.has_value() && *r.flatline_step < 50;
  EXPECT_TRUE(diverged || flatlined) << DescribeOutcome(r);
  if (diverged) {
    EXPECT_EQ(FirstNonFinite(uniform.losses), r.first_nonfinite_step);
    EXPECT_EQ(r.outcome, Outcome::kDiverged);  // stop_on_nonfinite is the lab's default
  }
}

TEST(LabTest, KaimingTrains) {
  const LabRun kaiming = RunLab("kaiming");
  const RunResult& r = kaiming.result;
  EXPECT_EQ(r.outcome, Outcome::kCompleted);
  EXPECT_EQ(r.steps_run, 1000);
  EXPECT_FALSE(r.flatline_step.has_value());
  EXPECT_FALSE(FirstNonFinite(kaiming.losses).has_value());
  EXPECT_LT(r.final_loss, 0.05f);
}

TEST(LabTest, XavierTrainsButSlowerThanKaiming) {
  const LabRun xavier = RunLab("xavier");
  const LabRun kaiming = RunLab("kaiming");
  const RunResult& r = xavier.result;
  EXPECT_EQ(r.outcome, Outcome::kCompleted);
  EXPECT_EQ(r.steps_run, 1000);
  EXPECT_FALSE(FirstNonFinite(xavier.losses).has_value());
  // Between Kaiming's final loss and chance (ln 2)...
  EXPECT_GT(r.final_loss, kaiming.result.final_loss);
  EXPECT_LT(r.final_loss, std::numbers::ln2);
  // ...and still descending over the last 200 steps.
  const std::optional<double> slope = TailSlope(xavier.losses, 200);
  ASSERT_TRUE(slope.has_value());
  EXPECT_LT(*slope, 0.0);
}

}  // namespace
}  // namespace ablate::core
