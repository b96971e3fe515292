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
  // The validation loss at each evaluation but the last, in order; empty: val_loss throughout.
  std::vector<float> val_curve;
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

// Lab 1 as it measures at its defaults: kaiming fits its training set (0.69 → 0.001) while its
// validation loss rises from 0.6 to 2.0 at chance accuracy (52.5%); xavier crawls to 0.45 with
// 64.5% validation accuracy; uniform blows up and is NaN at step 2.
JobData MemorisingJob(int64_t job_id = 9, int steps = 200);
// Lab 1 at depth 24 as the reference measures it: uniform non-finite at step 0, xavier flat at
// chance, kaiming down to 5e-5.
JobData DeepJob(int64_t job_id = 10, int steps = 200);
// Three kaiming runs (seeds 101-103) with different final training and validation losses.
JobData SeedsJob(int64_t job_id = 11, int steps = 60);

// Lab 1 in miniature: uniform blows up (1e12 at step 0, NaN at step `nan_step`), xavier crawls
// from 0.69 to 0.6, kaiming falls from 0.69 to 0.02.
JobData LabLikeJob(int64_t job_id = 7, int steps = 60, int nan_step = 2);
// The same three inits where nothing diverges: uniform flatlines at chance from step 12.
JobData NothingDivergesJob(int64_t job_id = 8, int steps = 60);

}  // namespace ablate::artifacts::testing

#endif  // ABLATE_TESTS_SERVER_ARTIFACTS_TEST_JOBS_H_
