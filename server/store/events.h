// What happens to a running job, as the store records it.
//
// Every change to a running job is an Event. The server's single writer thread appends events
// in batches, one transaction per batch (JobStore::Append); the store gives each event the
// job's next sequence number, so "everything after sequence N" is a well-defined, resumable
// slice of a job's history (the cursor of WatchJob).
#ifndef ABLATE_SERVER_STORE_EVENTS_H_
#define ABLATE_SERVER_STORE_EVENTS_H_

#include <cstdint>
#include <string>
#include <variant>

#include "absl/time/time.h"
#include "server/store/records.h"

namespace ablate::store {

struct RunStartedEvent {
  int64_t run_id = 0;
  absl::Time at;
  // The fingerprint id of the build that trains it (core/fingerprint.h); empty keeps the one
  // recorded before.
  std::string fingerprint = {};
};

// A run starts over from step 0: its recorded steps and evaluations are set aside (kept in the
// set_aside_* tables, out of its trajectory), its step summary (steps_done, seconds, final_loss,
// first_nonfinite_step, flatline_step) is reset, and `reason`, one sentence, is kept as the
// run's restart_reason. For a run that has not ended.
struct RunRestartedEvent {
  int64_t run_id = 0;
  std::string reason;
  absl::Time at;
};

struct StepEvent {
  int64_t run_id = 0;
  int32_t step = 0;
  float loss = 0;  // may be NaN or ±inf: stored so that it reads back as exactly that
  float weight_grad_norm = 0;  // likewise
  float seconds = 0;           // must be finite
};

struct EvalEvent {
  int64_t run_id = 0;
  int32_t step = 0;
  float loss = 0;      // may be NaN or ±inf, like StepEvent::loss
  float accuracy = 0;  // must be finite
};

// A run ended. `summary` carries state, outcome, steps_done, first_nonfinite_step,
// flatline_step, final_loss, final_eval, init_stats, final_stats, seconds, steps_per_second and
// finished_at; its id fields name the run (job_id 0: not checked); its spec and started_at are
// not read. A run with recorded steps keeps the steps_done,
// first_nonfinite_step and final_loss its steps give; a seconds or steps_per_second of 0 means
// "not measured" and keeps the running value.
struct RunFinishedEvent {
  RunRecord summary;
};

// A job's first run started.
struct JobStartedEvent {
  int64_t job_id = 0;
  absl::Time at;
};

// A job ended: state is SUCCEEDED, FAILED or CANCELLED. It is the job's last event. A job
// never ends while one of its runs has not: each run still queued or running ends first, with
// a RunFinished of its own, FAILED and an outcome that says its end was never recorded
// (CANCELLED in a cancelled job), and a job given as SUCCEEDED is recorded as FAILED with an
// error naming the run.
struct JobFinishedEvent {
  int64_t job_id = 0;
  JobState state = JobState::kUnspecified;
  std::string error;
  absl::Time at;
};

using Event = std::variant<RunStartedEvent, StepEvent, EvalEvent, RunFinishedEvent,
                           JobStartedEvent, JobFinishedEvent, RunRestartedEvent>;

// The newest sequence number of one job after an Append.
struct JobCursor {
  int64_t job_id = 0;
  uint64_t cursor = 0;
};

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_EVENTS_H_
