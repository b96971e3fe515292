// Thinning a long trajectory for display without hiding what matters in it.
#ifndef ABLATE_SERVER_SERVICE_DOWNSAMPLE_H_
#define ABLATE_SERVER_SERVICE_DOWNSAMPLE_H_

#include <cstdint>
#include <span>
#include <vector>

namespace ablate::service {

// Indices into `losses` (ascending, no repeats) that keep about `max_points` of them: the range
// is cut into max_points/3 buckets of consecutive steps and each keeps its first, its lowest and
// its highest loss, so spikes survive. The first and last step, and every non-finite loss's
// step, are always kept (non-finite values count as highest). Every index when
// max_points <= 0 or there are at most max_points losses.
std::vector<int32_t> DownsampleIndices(std::span<const float> losses, int max_points);

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_DOWNSAMPLE_H_
