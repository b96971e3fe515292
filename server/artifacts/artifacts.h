// A finished job's deliverables: the five files lab 1 asks for ("What you produce") plus the
// alternate-scale figure, built from what the store recorded and stored back as the job's
// artifacts (served by GetArtifact).
//
//   job.json                the resolved JobSpec (protobuf JSON): `ablate submit --spec` reruns it
//   losses.json             every run's loss at every step and its validations (losses_json.h)
//   loss_curves.png         the headline figure, on the more informative y scale (plot.h)
//   loss_curves_linear.png  or loss_curves_log.png: the same figure on the other y scale (only
//                           the other one: the headline's scale is not stored twice)
//   layer_stats.png         activation std at init and step-0 gradient norm per layer (plot.h)
//   README.md               what was trained, what happened, the lab's four answers (readme.h)
//   manifest.json           provenance, timing, results_summary, checks, sha256s (manifest.h)
// and bundle.zip, all of them in one archive, which is made when it is downloaded (bundle.h).
#ifndef ABLATE_SERVER_ARTIFACTS_ARTIFACTS_H_
#define ABLATE_SERVER_ARTIFACTS_ARTIFACTS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/artifacts/build_info.h"
#include "server/artifacts/host.h"
#include "server/artifacts/plot.h"
#include "server/artifacts/summary.h"
#include "server/store/store.h"

namespace ablate::artifacts {

// The files BuildJobArtifacts stores, in the order it stores them.
inline constexpr const char* kJobFile = "job.json";
inline constexpr const char* kLossesFile = "losses.json";
inline constexpr const char* kPlotFile = "loss_curves.png";
inline constexpr const char* kPlotLinearFile = "loss_curves_linear.png";
inline constexpr const char* kPlotLogFile = "loss_curves_log.png";
inline constexpr const char* kLayerStatsFile = "layer_stats.png";
inline constexpr const char* kReadmeFile = "README.md";
inline constexpr const char* kManifestFile = "manifest.json";

// Every file RenderJobArtifacts may make, in the order it makes them (a job has one of the two
// alternate-scale figures).
inline constexpr std::array<const char*, 8> kRenderedFiles = {
    kJobFile,     kLossesFile,     kPlotFile,   kPlotLinearFile,
    kPlotLogFile, kLayerStatsFile, kReadmeFile, kManifestFile};

// The name of the loss figure on `scale` when it is not the headline's.
const char* PlotFileFor(YScale scale);

// Renders every file of `job` from plain inputs: no store, no clock, no file system.
// `generated_at` is the time written into the manifest. Returns them in the order of
// kRenderedFiles. Errors: a trajectory that is not the run's steps 0, 1, 2, ...
// (InvalidArgument), or a plot that cannot be made (Internal).
absl::StatusOr<std::vector<store::Artifact>> RenderJobArtifacts(const JobData& job,
                                                                const BuildInfo& build,
                                                                const HostInfo& host,
                                                                absl::Time generated_at);

// The FinishHook's work: reads job `job_id` and every run's trajectory from `store`, renders the
// files (RenderJobArtifacts, with ReadHostInfo() and the current time) and stores each with
// PutArtifact. Requires every run of the job to have ended and its steps to be committed; the
// job itself may still be recorded as running. Thread-safe; jobs may finish concurrently.
absl::Status BuildJobArtifacts(store::Store& store, int64_t job_id, const BuildInfo& build);

// Reads job `job_id` and its runs' trajectories (in run order) from `store`.
absl::StatusOr<JobData> LoadJobData(store::Store& store, int64_t job_id);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_ARTIFACTS_H_
