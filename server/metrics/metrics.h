// The server's metrics in Prometheus' text exposition format (version 0.0.4), served by the
// HTTP gateway at /metrics. The module only renders: each value comes from a source the server
// wires in (the store, the event writer, the executor, the front doors), read at every scrape,
// so the numbers live where they are kept and nothing here can drift from them.
//
//   ablate_jobs{state="queued"|"running"|"succeeded"|"failed"|"cancelled"}  gauge, from the store
//   ablate_steps_recorded_total      counter: steps committed since start (steps/s is its rate())
//   ablate_steps_per_second          gauge: the same over about the last minute
//   ablate_training_store_wait_seconds_total  counter: training's wait for the store's backlog
//   ablate_run_queue_depth           gauge: runs waiting for a free worker
//   ablate_workers                   gauge: runs trained at once
//   ablate_watchers                  gauge: open watch streams, gRPC and HTTP
//   ablate_watch_delay_seconds       histogram: per live update and watcher, its oldest step's
//                                    wait from the training's post to the watcher's stream
//   ablate_store_bytes               gauge: the database's files on disk (database + WAL)
//   ablate_store_full                gauge: 1 once writes fail for lack of space
//   process_start_time_seconds       gauge: Unix time the server started (Prometheus' name)
#ifndef ABLATE_SERVER_METRICS_METRICS_H_
#define ABLATE_SERVER_METRICS_METRICS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/metrics/histogram.h"
#include "server/store/records.h"

namespace ablate::metrics {

// The Content-Type of Render's output.
inline constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Where each metric comes from. A source left empty leaves its metric out; a failing
// jobs_by_state leaves ablate_jobs out (the rest still renders). Sources are called on the
// scraping thread and must be thread-safe and quick.
struct Sources {
  std::function<absl::StatusOr<std::map<store::JobState, int64_t>>()> jobs_by_state;
  std::function<uint64_t()> steps_recorded;
  std::function<double()> steps_per_second;
  std::function<double()> store_wait_seconds;
  std::function<int()> run_queue_depth;
  std::function<int()> watchers;
  std::function<HistogramSnapshot()> watch_delay;
  std::function<bool()> store_full;
  std::vector<std::string> store_files;  // summed; missing files count 0
  int workers = 0;                       // 0: left out
  absl::Time start_time = absl::InfinitePast();  // InfinitePast: left out
};

// Every metric with its # HELP and # TYPE lines. ablate_jobs lists all five states, 0 for
// those without jobs, so that a state's series exists before its first job.
std::string Render(const Sources& sources);

}  // namespace ablate::metrics

#endif  // ABLATE_SERVER_METRICS_METRICS_H_
