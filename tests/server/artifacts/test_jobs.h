// Hand-built jobs for the artifacts tests: a v1::Job with its runs' summaries and trajectories,
// shaped like what the store returns once every run of a job has ended.
#ifndef ABLATE_TESTS_SERVER_ARTIFACTS_TEST_JOBS_H_
#define ABLATE_TESTS_SERVER_ARTIFACTS_TEST_JOBS_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "server/artifacts/summary.h"

namespace ablate::artifacts::testing {

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
inline constexpr float kInf = std::numeric_limits<float>::infinity();

struct FakeRun {
  std::string init = "kaiming";
  uint64_t weight_seed = 101;
  double uniform_low = -0.5, uniform_high = 0.5;
  std::vector<float> losses;  // losses[s] is step s's
  std::optional<int> flatline_step;
  bool cancelled = false;
  // Per-layer measured weight variance at init; empty: the scheme's expected variance.
  std::vector<double> weight_variances;
  // Validation after the last step (only when the run completed).
  float val_loss = 0.5f;
  float val_accuracy = 0.75f;
};

// A run of `init` with `weight_seed` and `losses`; the other fields keep their defaults.
FakeRun MakeRun(std::string init, uint64_t weight_seed, std::vector<float> losses);

// Lab 1's spec with `steps` steps and `depth` layers of `width` (input_dim = width); runs are
// added by MakeJobData.
v1::JobSpec LabSpec(int steps = 60, int depth = 12, int width = 256);

// A job as the store holds it when its runs have ended: state RUNNING (the FinishHook runs
// before the job is marked finished), each run's summary filled from its losses the way the
// trainer would (outcome, first_nonfinite_step, final_loss, final_eval, init_stats), run ids
// job_id * 100 + index, step times 10 ms ± 1 ms, evals every spec.training().eval_every().
JobData MakeJobData(int64_t job_id, v1::JobSpec spec, const std::vector<FakeRun>& runs);

// Smooth, deterministic loss curves of `steps` points.
std::vector<float> Decay(int steps, float start, float end, float wiggle = 0.01f);
std::vector<float> Flat(int steps, float level, float wiggle = 0.001f);
// `finite` followed by a NaN (a run that stopped at its first non-finite loss).
std::vector<float> ThenNaN(std::vector<float> finite);

// Lab 1 in miniature: uniform blows up (1e12 at step 0, NaN at step `nan_step`), xavier crawls
// from 0.69 to 0.6, kaiming falls from 0.69 to 0.02.
JobData LabLikeJob(int64_t job_id = 7, int steps = 60, int nan_step = 2);
// The same three inits where nothing diverges: uniform flatlines at chance from step 12.
JobData NothingDivergesJob(int64_t job_id = 8, int steps = 60);

}  // namespace ablate::artifacts::testing

#endif  // ABLATE_TESTS_SERVER_ARTIFACTS_TEST_JOBS_H_
