// The class view's arithmetic: a class's jobs and their runs' losses in, groups with bands,
// outcome distributions and per-student rows with flags out (GetClassView in the .proto says
// what each field means). Pure functions, so the rules are tested without a server.
#ifndef ABLATE_SERVER_SERVICE_CLASS_VIEW_H_
#define ABLATE_SERVER_SERVICE_CLASS_VIEW_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"

namespace ablate::service {

// Jobs the view reads at most, newest first (ClassView.truncated says when there were more):
// a class of 100 students with 10 lab jobs each, whose losses (1000 steps × 3 runs) fit in
// about 12 MB while the view is built.
inline constexpr int kMaxClassViewJobs = 1000;
inline constexpr int kDefaultGridPoints = 100;
inline constexpr int kMinGridPoints = 10;
inline constexpr int kMaxGridPoints = 1000;
// A flag for an outcome opposite to the class's needs at least this many other runs of the
// init, most of which went the other way: with fewer there is no envelope to be off.
inline constexpr int kMinRunsForEnvelope = 3;

struct ClassViewInput {
  std::string class_name;
  // Newest first, specs resolved; runs labelled (jobs::LabelRuns).
  std::vector<v1::Job> jobs;
  // Each ended run's training losses by run id: losses[s] is step s's, NaN and ±inf as
  // recorded. A run without an entry has no curve (but still its outcomes).
  std::map<int64_t, std::vector<float>> losses;
  bool truncated = false;
};

struct ClassViewOptions {
  int grid_points = kDefaultGridPoints;
  // Every student's row (the instructor; a server without users), or only this owner's.
  bool every_student = true;
  std::string only_owner;
};

// A group's median training loss at every step from 0 to its last (NaN where no run has a
// finite loss), for the figure; in ClassView.groups order.
struct GroupCurve {
  std::string label;
  std::string init;
  std::vector<float> median;
};

struct ClassViewResult {
  v1::ClassView view;
  std::vector<GroupCurve> curves;
};

// Requires options.grid_points in [kMinGridPoints, kMaxGridPoints].
ClassViewResult BuildClassView(const ClassViewInput& input, const ClassViewOptions& options);

// The q-quantile (0 <= q <= 1) of `values`, interpolating linearly between order statistics
// (numpy's default). Requires a non-empty vector; reorders it.
double Quantile(std::vector<double>& values, double q);

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_CLASS_VIEW_H_
