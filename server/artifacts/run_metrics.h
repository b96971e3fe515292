// Summarize's per-run part (summary.h): what one run's losses, validations, timing and
// init statistics say, whatever the lab; and the spread over an init's seeds. Internal to
// server/artifacts.
#ifndef ABLATE_SERVER_ARTIFACTS_RUN_METRICS_H_
#define ABLATE_SERVER_ARTIFACTS_RUN_METRICS_H_

#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/init.h"
#include "server/artifacts/summary.h"

namespace ablate::artifacts::metrics {

// Run `i` of `job`, from its trajectory `t`: outcome numbers, verdict (judged against
// `criteria` and the loss at chance, `chance`), generalisation, timing and, for each layer of
// `shapes`, its init statistics; `label` names it in the files. InvalidArgument when `t` is
// not run i's or its steps are not 0, 1, 2, ... in order.
absl::StatusOr<RunSummary> SummarizeRun(const v1::Job& job, int i, const store::Trajectory& t,
                                        const Criteria& criteria, double chance,
                                        const std::vector<core::LayerShape>& shapes,
                                        std::string label);

// One InitSpread per init that has two or more runs in `s.runs`, in order of first appearance.
std::vector<InitSpread> Spreads(const JobSummary& s);

}  // namespace ablate::artifacts::metrics

#endif  // ABLATE_SERVER_ARTIFACTS_RUN_METRICS_H_
