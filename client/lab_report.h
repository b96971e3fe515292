// What `ablate lab` prints after a job's deliverables are downloaded: the findings the server
// wrote into manifest.json's results_summary, read back rather than recomputed, so the terminal
// and the README cannot disagree. Two parts: each init's outcome at the job's depth against
// what its variance gain predicts (depth_outcomes), and, for a job with several weight seeds
// per init, the spread of its results (seeds).
#ifndef ABLATE_CLIENT_LAB_REPORT_H_
#define ABLATE_CLIENT_LAB_REPORT_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ablate::client {

// results_summary.depth_outcomes[i].
struct DepthOutcome {
  std::string init;
  int depth = 0;
  std::string regime;    // "explodes", "vanishes", "keeps its scale"
  std::string expected;  // what the regime implies
  std::string observed;  // what the run did
  std::optional<bool> held;  // null in the manifest: the run was too short to test it
};

// min, median, max of one number over an init's runs (results_summary.seeds[i].<field>).
struct SpreadValues {
  double min = 0, median = 0, max = 0;
};

// results_summary.seeds[i].
struct SeedSpread {
  std::string init;
  int runs = 0;
  std::optional<SpreadValues> final_loss, val_loss, val_accuracy, first_nonfinite_step;
  int diverged = 0, generalised = 0, memorised = 0;
};

struct LabFindings {
  int64_t job_id = 0;
  std::vector<DepthOutcome> depth_outcomes;
  std::vector<SeedSpread> seeds;
};

// Parses the findings out of a manifest.json's text. InvalidArgument when it is not JSON or
// lacks results_summary; absent parts give empty lists.
absl::StatusOr<LabFindings> ParseLabFindings(absl::string_view manifest_json);

// Reads and parses the file; errors name it.
absl::StatusOr<LabFindings> ReadLabFindings(const std::filesystem::path& manifest);

// Lines for the terminal: "depth 24, what question 4 predicted and what happened:" then one
// line per init, then the seeds table (when there is one).
std::string FormatLabFindings(const LabFindings& findings);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_LAB_REPORT_H_
