// A run trains the same bits whether it is the first training of its process, the first on a
// new thread, or a later one. Process-wide state that a first run could see differently (a
// BLAS library's thread count, caches sized on first use) must not reach the numbers.
//
// Each TEST runs in a fresh process under ctest (gtest_discover_tests runs one test per
// process), so the first run below is the first training the process does.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "core/init.h"
#include "core/trainer.h"

namespace ablate::core {
namespace {

struct Trace {
  std::vector<uint32_t> bits;  // every step's loss and grad norm, every eval, every stat
};

class TraceRecorder : public RunObserver {
 public:
  explicit TraceRecorder(Trace& trace) : trace_(trace) {}
  void OnStep(const StepRecord& step) override {
    trace_.bits.push_back(std::bit_cast<uint32_t>(step.loss));
    trace_.bits.push_back(std::bit_cast<uint32_t>(step.weight_grad_norm));
  }
  void OnEval(const EvalRecord& eval) override {
    trace_.bits.push_back(std::bit_cast<uint32_t>(eval.loss));
    trace_.bits.push_back(std::bit_cast<uint32_t>(eval.accuracy));
  }

 private:
  Trace& trace_;
};

void AddStats(const std::vector<LayerStats>& stats, Trace& trace) {
  for (const LayerStats& s : stats) {
    for (double v : {s.weight_variance, s.activation_mean, s.activation_std}) {
      const auto bits = std::bit_cast<uint64_t>(v);
      trace.bits.push_back(static_cast<uint32_t>(bits));
      trace.bits.push_back(static_cast<uint32_t>(bits >> 32));
    }
  }
}

// The shape of the reported case: a first run that drew its orthogonal init through a
// multi-threaded BLAS parted from later runs at step 22.
ExperimentConfig Experiment() {
  ExperimentConfig config;
  config.model = {.depth = 6, .width = 64, .input_dim = 64, .classes = 2};
  config.train.steps = 60;
  config.train.eval_every = 20;
  return config;
}

Trace Train(const std::string& scheme) {
  const ExperimentConfig config = Experiment();
  const InitConfig init{.scheme = scheme, .weight_seed = 92};
  const Dataset data = MakeLabDataset(config.data, config.model.input_dim);
  Trace trace;
  TraceRecorder recorder(trace);
  Trainer trainer(config, data, init);
  const RunResult result = trainer.Run(&recorder);
  AddStats(result.init_stats, trace);
  AddStats(result.final_stats, trace);
  return trace;
}

class FirstRunTest : public testing::TestWithParam<std::string> {};

TEST_P(FirstRunTest, FirstRunOfProcessAndThreadEqualsALaterRun) {
  const Trace first_in_process = Train(GetParam());
  Trace first_on_thread;
  std::thread([&] { first_on_thread = Train(GetParam()); }).join();
  const Trace later = Train(GetParam());
  ASSERT_FALSE(later.bits.empty());
  EXPECT_EQ(first_in_process.bits, later.bits);
  EXPECT_EQ(first_on_thread.bits, later.bits);
}

std::vector<std::string> AllSchemes() {
  std::vector<std::string> names;
  for (const InitScheme& s : InitSchemes()) names.emplace_back(s.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(EveryInit, FirstRunTest, testing::ValuesIn(AllSchemes()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ablate::core
