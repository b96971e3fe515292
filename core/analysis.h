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

// Nearest-rank percentile of `values` (in any order), p in (0, 100]: the smallest value with at
// least p% of the values at or below it. 0 when `values` is empty (a run with no timed steps).
double Percentile(std::vector<float> values, double p);

// Forward variance ratio output/input of a stack of `layers` Linear+ReLU layers that each have
// variance gain `gain` (see ReluVarianceGain): gain^layers.
double StackedVarianceGain(double gain, int layers);

}  // namespace ablate::core

#endif  // ABLATE_CORE_ANALYSIS_H_
