// What `ablate class` prints and writes: the class view (GetClassView) as a table of groups
// and one of students, and as a report directory (figure + markdown). Pure functions of the
// view except WriteClassReport.
#ifndef ABLATE_CLIENT_CLASS_REPORT_H_
#define ABLATE_CLIENT_CLASS_REPORT_H_

#include <filesystem>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"

namespace ablate::client {

// "0.4512 [0.2301–0.6934]": the median and the 10–90 % range; "-" without values.
std::string FormatDistribution(const v1::Distribution& d, bool percent = false);

// The groups' table, then the students' (with each flag on a line of its own under its
// student), each line ending in '\n'.
std::string FormatClassView(const v1::ClassView& view);

// The same as markdown, with `figure` (a file name beside it, or empty) embedded.
std::string ClassReportMarkdown(const v1::ClassView& view, const std::string& figure);

// Writes class.png (when the view carries a figure), class.md and class.json (the view
// without the figure's bytes) into `dir`, creating it, each atomically. Returns the paths.
absl::StatusOr<std::vector<std::filesystem::path>> WriteClassReport(
    const v1::ClassView& view, const std::filesystem::path& dir);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_CLASS_REPORT_H_
