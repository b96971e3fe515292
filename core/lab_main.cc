// ablate-lab-local: runs lab 1's three runs in this process, one thread per run, and prints
// each run's outcome. No server, no store: the reference the service's overhead is measured
// against, and a quick check that the core reproduces the lab.
#include <cstdio>
#include <limits>
#include <thread>
#include <vector>

#include "core/analysis.h"
#include "core/trainer.h"

namespace {

using namespace ablate::core;

class LossRecorder : public RunObserver {
 public:
  void OnStep(const StepRecord& step) override { losses.push_back(step.loss); }
  std::vector<float> losses;
};

}  // namespace

int main() {
  const ExperimentConfig config = LabExperiment();
  const std::vector<InitConfig> runs = LabRuns();
  const Dataset data = MakeLabDataset(config.data, config.model.input_dim);

  std::vector<RunResult> results(runs.size());
  std::vector<LossRecorder> recorders(runs.size());
  {
    std::vector<std::jthread> threads;
    for (size_t i = 0; i < runs.size(); ++i) {
      threads.emplace_back([&, i] {
        Trainer trainer(config, data, runs[i]);
        results[i] = trainer.Run(&recorders[i]);
      });
    }
  }

  std::printf("lab 1: depth %d, width %d, %d steps, batch %d, lr %g, momentum %g\n",
              config.model.depth, config.model.width, config.train.steps, config.train.batch,
              config.train.lr, config.train.momentum);
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = results[i];
    const auto slope = TailSlope(recorders[i].losses, 200);
    std::printf("%-8s %-22s final loss %-12.6g slope(last 200) %-12.4g %.2f s (%.0f steps/s)\n",
                runs[i].scheme.c_str(), DescribeOutcome(r).c_str(), r.final_loss,
                slope.value_or(std::numeric_limits<double>::quiet_NaN()), r.seconds,
                r.steps_run / r.seconds);
  }
  return 0;
}
