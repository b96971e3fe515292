#include "server/service/downsample.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ablate::service {

std::vector<int32_t> DownsampleIndices(std::span<const float> losses, int max_points) {
  const auto n = static_cast<int64_t>(losses.size());
  std::vector<int32_t> keep;
  if (max_points <= 0 || n <= max_points) {
    keep.resize(n);
    std::iota(keep.begin(), keep.end(), 0);
    return keep;
  }
  const int64_t buckets = std::max<int64_t>(1, max_points / 3);
  for (int64_t b = 0; b < buckets; ++b) {
    const int64_t begin = b * n / buckets, end = (b + 1) * n / buckets;
    // A non-finite loss outranks every finite one as the bucket's highest, so the bucket's
    // first non-finite step (and with it the run's divergence step) is kept.
    int64_t low = -1, high = -1;
    for (int64_t i = begin; i < end; ++i) {
      const bool finite = std::isfinite(losses[i]);
      if (finite && (low < 0 || losses[i] < losses[low])) low = i;
      const bool high_finite = high >= 0 && std::isfinite(losses[high]);
      if (high < 0 || (!finite && high_finite) ||
          (finite && high_finite && losses[i] > losses[high])) {
        high = i;
      }
    }
    keep.push_back(static_cast<int32_t>(begin));
    if (low >= 0) keep.push_back(static_cast<int32_t>(low));
    keep.push_back(static_cast<int32_t>(high));
  }
  keep.push_back(static_cast<int32_t>(n - 1));
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  return keep;
}

}  // namespace ablate::service
