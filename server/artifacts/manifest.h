// manifest.json: the provenance and results of one job, "standard" in the lab's sense.
//
// Schema "ablate.manifest/1", top-level keys in this order:
//   schema, generated_at, job {id, name, owner, created_at, started_at, finished_at},
//   ablate {version, git_commit}, build {compiler, flags, build_type, eigen_version, libraries},
//   host {hostname, os, cpu_model, logical_cpus, memory_bytes, cpu_governor,
//         cpu_governor_error}, warnings [string],
//   spec (the resolved JobSpec, as job.json), seeds {data, weights {run_id: seed}},
//   runs [{run_id, index, label, init, formula, reference, weight_seed, uniform_low?,
//          uniform_high?, state, outcome, verdict, steps_recorded, first_nonfinite_step,
//          flatline_step, final_loss, start_loss, end_loss, peak_loss, final_eval,
//          last_eval, tail_trend, timing {total_seconds, median_step_seconds,
//          p95_step_seconds, run_seconds, steps_per_second}, started_at, finished_at,
//          init_stats [{layer, fan_in, fan_out, weight_variance, expected_weight_variance,
//          relu_variance_gain, activation_mean, activation_std}]}],
//   results_summary {steps_to_nan_uniform, flatline_step_uniform, final_loss_xavier,
//          final_loss_kaiming, xavier_slope_last200, xavier_status, kaiming_step_at_xavier_final,
//          lab_expectation, runs [{run_id, label, outcome, final_loss, final_val_loss,
//          final_val_accuracy}], depth_prediction [...], notes [string]},
//   checks [{id, criterion, applicable, fired, message}],
//   plot {headline, scale, reason, decades, y_clipped_at, clipped [...], annotations [...],
//         size_px},
//   files {name: {sha256, bytes, content_type}} for every other stored file (not bundle.zip,
//          which is made on download and holds this manifest), definitions {key: meaning}.
// Numbers a file cannot hold (a NaN loss) are null, and `notes` says why.
#ifndef ABLATE_SERVER_ARTIFACTS_MANIFEST_H_
#define ABLATE_SERVER_ARTIFACTS_MANIFEST_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/artifacts/build_info.h"
#include "server/artifacts/host.h"
#include "server/artifacts/plot.h"
#include "server/artifacts/summary.h"
#include "server/store/store.h"

namespace ablate::artifacts {

inline constexpr char kManifestSchema[] = "ablate.manifest/1";

// manifest.json. `files` are the job's other files (sha256 and size are recorded for each);
// `plot` is the headline figure's layout (scale, clipping).
std::string RenderManifest(const JobSummary& summary, const BuildInfo& build, const HostInfo& host,
                           const PlotLayout& plot, const std::vector<store::Artifact>& files,
                           absl::Time generated_at);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_MANIFEST_H_
