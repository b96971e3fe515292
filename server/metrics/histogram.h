// A histogram of durations that many threads add to without a lock, read at every scrape and
// rendered in Prometheus' histogram form (metrics.h).
#ifndef ABLATE_SERVER_METRICS_HISTOGRAM_H_
#define ABLATE_SERVER_METRICS_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace ablate::metrics {

// What a histogram held when it was read.
struct HistogramSnapshot {
  std::vector<double> bounds;       // buckets' upper bounds, ascending (Prometheus' `le`)
  std::vector<uint64_t> cumulative;  // observations <= each bound; then one for +Inf (= count)
  double sum = 0;                    // of every observation
};

// Thread-safe; Observe is a few relaxed atomic additions.
class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);
  HistogramSnapshot Read() const;

 private:
  const std::vector<double> bounds_;
  // Per bucket, not cumulative (the last is +Inf): an observation adds to one counter.
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

}  // namespace ablate::metrics

#endif  // ABLATE_SERVER_METRICS_HISTOGRAM_H_
