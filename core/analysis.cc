#include "core/analysis.h"

#include <algorithm>
#include <cmath>

namespace ablate::core {

std::optional<int> FirstNonFinite(std::span<const float> losses) {
  for (size_t i = 0; i < losses.size(); ++i) {
    if (!std::isfinite(losses[i])) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::optional<double> TailSlope(std::span<const float> losses, int window) {
  const size_t n = std::min(losses.size(), static_cast<size_t>(std::max(window, 0)));
  if (n < 2) return std::nullopt;
  const size_t first = losses.size() - n;
  // Centre the step indices so the sums stay small and exact in double.
  const double mean_x = static_cast<double>(first) + static_cast<double>(n - 1) / 2.0;
  double mean_y = 0;
  for (size_t i = first; i < losses.size(); ++i) {
    if (!std::isfinite(losses[i])) return std::nullopt;
    mean_y += losses[i];
  }
  mean_y /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (size_t i = first; i < losses.size(); ++i) {
    const double dx = static_cast<double>(i) - mean_x;
    sxy += dx * (losses[i] - mean_y);
    sxx += dx * dx;
  }
  return sxy / sxx;
}

void TrackFlatline(FlatlineState& state, int step, float loss, double chance, double tolerance,
                   int window) {
  // A NaN fails the comparison, so a non-finite loss ends a stretch too.
  const bool at_chance = std::abs(static_cast<double>(loss) - chance) < tolerance;
  state.flat_steps = at_chance ? state.flat_steps + 1 : 0;
  if (state.flat_steps >= window) {
    state.flatline_step = step - state.flat_steps + 1;
  } else {
    state.flatline_step.reset();  // the loss left chance: whatever sat there before did not stay
  }
}

std::optional<int> FlatlineStep(std::span<const float> losses, double chance, double tolerance,
                                int window) {
  FlatlineState state;
  for (size_t i = 0; i < losses.size(); ++i) {
    TrackFlatline(state, static_cast<int>(i), losses[i], chance, tolerance, window);
  }
  return state.flatline_step;
}

double Percentile(std::vector<float> values, double p) {
  if (values.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  // The rank-th smallest, found without sorting everything (a figure of 16 runs of 100,000
  // steps asks for one among 3.2 million losses).
  const auto nth =
      values.begin() + static_cast<std::ptrdiff_t>(std::clamp<size_t>(rank, 1, values.size()) - 1);
  std::nth_element(values.begin(), nth, values.end());
  return *nth;
}

double StackedVarianceGain(double gain, int layers) { return std::pow(gain, layers); }

}  // namespace ablate::core
