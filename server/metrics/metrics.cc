#include "server/metrics/metrics.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ablate::metrics {

namespace {

void Family(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

// Prometheus reads Go's float syntax; %.17g round-trips a double and prints integers plainly.
std::string Number(double value) { return absl::StrFormat("%.17g", value); }

}  // namespace

std::string Render(const Sources& sources) {
  std::string out;
  if (sources.jobs_by_state) {
    if (absl::StatusOr<std::map<store::JobState, int64_t>> counts = sources.jobs_by_state();
        counts.ok()) {
      Family(out, "ablate_jobs", "gauge", "Jobs in the store, by state.");
      // Every state, with 0 for those without jobs.
      for (store::JobState state :
           {store::JobState::kQueued, store::JobState::kRunning, store::JobState::kSucceeded,
            store::JobState::kFailed, store::JobState::kCancelled}) {
        auto it = counts->find(state);
        absl::StrAppend(&out, "ablate_jobs{state=\"", store::StateName(state), "\"} ",
                        it == counts->end() ? 0 : it->second, "\n");
      }
    }
  }
  if (sources.steps_recorded) {
    Family(out, "ablate_steps_recorded_total", "counter",
           "Training steps committed to the store since the server started.");
    absl::StrAppend(&out, "ablate_steps_recorded_total ", sources.steps_recorded(), "\n");
  }
  if (sources.steps_per_second) {
    Family(out, "ablate_steps_per_second", "gauge",
           "Training steps committed per second over about the last minute.");
    absl::StrAppend(&out, "ablate_steps_per_second ", Number(sources.steps_per_second()), "\n");
  }
  if (sources.store_wait_seconds) {
    Family(out, "ablate_training_store_wait_seconds_total", "counter",
           "Seconds training threads waited for the database, summed over threads: a run waits "
           "while its backlog of uncommitted steps is at its limit.");
    absl::StrAppend(&out, "ablate_training_store_wait_seconds_total ",
                    Number(sources.store_wait_seconds()), "\n");
  }
  if (sources.run_queue_depth) {
    Family(out, "ablate_run_queue_depth", "gauge", "Runs waiting for a free worker.");
    absl::StrAppend(&out, "ablate_run_queue_depth ", sources.run_queue_depth(), "\n");
  }
  if (sources.workers > 0) {
    Family(out, "ablate_workers", "gauge", "Runs the server trains at once.");
    absl::StrAppend(&out, "ablate_workers ", sources.workers, "\n");
  }
  if (sources.watchers) {
    Family(out, "ablate_watchers", "gauge", "Open job watch streams (gRPC and HTTP).");
    absl::StrAppend(&out, "ablate_watchers ", sources.watchers(), "\n");
  }
  if (sources.watch_delay) {
    const HistogramSnapshot h = sources.watch_delay();
    Family(out, "ablate_watch_delay_seconds", "histogram",
           "Live updates' delay from the post of their oldest step by the training to their "
           "hand-over to a watcher's stream, once per update and watcher (steps done before the "
           "watch began not counted).");
    for (size_t i = 0; i < h.bounds.size(); ++i) {
      // Bounds as written (0.005, not %.17g's 0.0050000000000000001): labels are names.
      absl::StrAppend(&out, "ablate_watch_delay_seconds_bucket{le=\"", h.bounds[i],
                      "\"} ", h.cumulative[i], "\n");
    }
    absl::StrAppend(&out, "ablate_watch_delay_seconds_bucket{le=\"+Inf\"} ", h.cumulative.back(),
                    "\n", "ablate_watch_delay_seconds_sum ", Number(h.sum), "\n",
                    "ablate_watch_delay_seconds_count ", h.cumulative.back(), "\n");
  }
  if (!sources.store_files.empty()) {
    uintmax_t bytes = 0;
    for (const std::string& file : sources.store_files) {
      std::error_code error;
      const uintmax_t size = std::filesystem::file_size(file, error);
      if (!error) bytes += size;
    }
    Family(out, "ablate_store_bytes", "gauge", "Size of the database's files (database and WAL).");
    absl::StrAppend(&out, "ablate_store_bytes ", bytes, "\n");
  }
  if (sources.store_full) {
    Family(out, "ablate_store_full", "gauge",
           "1 once writes fail for lack of space (until the server restarts), else 0.");
    absl::StrAppend(&out, "ablate_store_full ", sources.store_full() ? 1 : 0, "\n");
  }
  if (sources.start_time != absl::InfinitePast()) {
    Family(out, "process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch, in seconds.");
    absl::StrAppend(&out, "process_start_time_seconds ",
                    Number(absl::ToUnixMillis(sources.start_time) / 1000.0), "\n");
  }
  return out;
}

}  // namespace ablate::metrics
