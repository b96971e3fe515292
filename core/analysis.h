// Numbers the reports derive from a trajectory.
#ifndef ABLATE_CORE_ANALYSIS_H_
#define ABLATE_CORE_ANALYSIS_H_

#include <optional>
#include <span>
#include <vector>

namespace ablate::core {

// Index of the first NaN or infinite loss.
std::optional<int> FirstNonFinite(std::span<const float> losses);

// Least-squares slope, in loss per step, of the last `window` losses (all of them when fewer),
// against their step indices. Nothing when fewer than two of them, or any, is non-finite.
std::optional<double> TailSlope(std::span<const float> losses, int window);

// Whether a run's loss has flatlined at chance (the lab's "loss flatlines at random"): its loss
// has stayed within `tolerance` of chance (ln classes) for `window` consecutive steps or more,
// up to the latest step. Judged on the loss alone: a saturated network's weight gradients are
// mostly zero but can spike now and then (a few units wake for one batch) while its loss stays
// put, so a gradient test misses it. A stretch at chance that the loss then leaves (Xavier's
// slow start, which can sit at chance for hundreds of steps) is no flatline, and is forgotten.
struct FlatlineState {
  int flat_steps = 0;                // consecutive steps at chance, up to the latest
  std::optional<int> flatline_step;  // the first of them, once there are `window`
};
// Takes step `step`'s loss; steps come in order, one at a time (the trainer's, or a replay).
void TrackFlatline(FlatlineState& state, int step, float loss, double chance, double tolerance,
                   int window);
// The same over a whole trajectory (losses[s] is step s's): the flatline step, if any.
std::optional<int> FlatlineStep(std::span<const float> losses, double chance, double tolerance,
                                int window);

// Nearest-rank percentile of `values` (in any order), p in (0, 100]: the smallest value with at
// least p% of the values at or below it. 0 when `values` is empty (a run with no timed steps).
double Percentile(std::vector<float> values, double p);

// Forward variance ratio output/input of a stack of `layers` Linear+ReLU layers that each have
// variance gain `gain` (see ReluVarianceGain): gain^layers.
double StackedVarianceGain(double gain, int layers);

}  // namespace ablate::core

#endif  // ABLATE_CORE_ANALYSIS_H_
