// No heap allocation inside the step loop. This executable compiles the core with
// EIGEN_RUNTIME_NO_MALLOC and assertions on (see CMakeLists.txt), so the NoAllocationScope
// around each training step in core/trainer.cc makes any Eigen heap allocation in the step
// abort the process.
#include <gtest/gtest.h>

#include <vector>

#include "core/config.h"
#include "core/data.h"
#include "core/tensor.h"
#include "core/trainer.h"

#ifndef EIGEN_RUNTIME_NO_MALLOC
#error "no_alloc_test must be compiled with EIGEN_RUNTIME_NO_MALLOC"
#endif
#ifdef NDEBUG
#error "no_alloc_test must be compiled without NDEBUG: Eigen reports allocations by assert"
#endif

namespace ablate::core {
namespace {

// The guard itself works in this build: an allocation while it is down aborts.
TEST(NoAllocationDeathTest, EigenAbortsOnAForbiddenAllocation) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Eigen::internal::set_is_malloc_allowed(false);
        Matrix m(64, 64);
        m.setZero();
      },
      "heap allocation is forbidden");
}

// Trains `steps` steps at the given shapes; any Eigen allocation inside a step aborts.
RunResult TrainAt(int depth, int width, int batch, int steps, const InitConfig& init,
                  StepPath path = kDefaultStepPath) {
  ExperimentConfig config = LabExperiment();
  config.model.depth = depth;
  config.model.width = width;
  config.train.batch = batch;
  config.train.steps = steps;
  config.train.eval_every = 2;  // evaluation runs outside the step scope, but exercise it too
  EXPECT_FALSE(Validate(config).has_value());
  const Dataset data = MakeLabDataset(config.data, config.model.input_dim);
  Trainer trainer(config, data, init, path);
  return trainer.Run(nullptr);
}

TEST(NoAllocationTest, LabShapesTrainWithoutAllocating) {
  // Depth 12, width 256, batch 64: the lab's Kaiming run.
  const RunResult result = TrainAt(12, 256, 64, 5, LabRuns()[2]);
  EXPECT_EQ(result.outcome, Outcome::kCompleted);
  EXPECT_EQ(result.steps_run, 5);
}

TEST(NoAllocationTest, ReferenceStepTrainsWithoutAllocating) {
  // The default path is the fused one; the reference path must not allocate either.
  const RunResult result = TrainAt(12, 256, 64, 5, LabRuns()[2], StepPath::kReference);
  EXPECT_EQ(result.outcome, Outcome::kCompleted);
  EXPECT_EQ(result.steps_run, 5);
}

TEST(NoAllocationTest, DivergingRunStopsWithoutAllocating) {
  // The uniform run takes the non-finite path (no backward, no update).
  const RunResult result = TrainAt(12, 256, 64, 5, LabRuns()[0]);
  ASSERT_TRUE(result.first_nonfinite_step.has_value());
  EXPECT_EQ(result.outcome, Outcome::kDiverged);
  EXPECT_EQ(result.steps_run, *result.first_nonfinite_step + 1);
}

TEST(NoAllocationTest, SingleExampleBatchTrainsWithoutAllocating) {
  // Batch 1 takes Eigen's matrix–vector product paths instead of GEMM.
  const RunResult result = TrainAt(3, 256, 1, 3, LabRuns()[2]);
  EXPECT_EQ(result.outcome, Outcome::kCompleted);
  EXPECT_EQ(result.steps_run, 3);
}

}  // namespace
}  // namespace ablate::core
