// Small statistics for the benchmarks and the load test: nearest-rank percentiles, the median,
// a one-line summary of a sample, and the machine's load average (printed next to every timing,
// since other load on the machine shows up in them).
#ifndef ABLATE_TESTS_SUPPORT_STATS_H_
#define ABLATE_TESTS_SUPPORT_STATS_H_

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace ablate::test_support {

// Nearest-rank percentile (p in [0, 100]) of values sorted ascending; 0 when there are none.
inline double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// The median of values (the mean of the middle two when their count is even); 0 when none.
inline double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// "p50 1.20  p90 ...  p99 ...  max ...  mean ... ms  (n=123)", or "(no samples)".
inline std::string Summary(std::vector<double> values, const char* unit = "ms") {
  if (values.empty()) return "(no samples)";
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  char line[256];
  std::snprintf(line, sizeof line, "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  mean %.2f %s  (n=%zu)",
                Percentile(values, 50), Percentile(values, 90), Percentile(values, 99),
                values.back(), sum / static_cast<double>(values.size()), unit, values.size());
  return line;
}

// The 1, 5 and 15 minute load averages, "2.10 1.80 1.50".
inline std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_STATS_H_
