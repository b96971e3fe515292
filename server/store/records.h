// What the store keeps about jobs and runs, in its own terms: states, the records it returns,
// what it takes to create a job and to list jobs, and the update slices it reads back.
//
// The store does not speak the wire schema (proto/ablate/v1): the gRPC messages change with the
// API, the store's rows with the schema's migrations, and the two are mapped onto each other in
// one place, server/service/wire.h. The one exception is the job's spec, which the store keeps
// as opaque bytes (see NewJob).
#ifndef ABLATE_SERVER_STORE_RECORDS_H_
#define ABLATE_SERVER_STORE_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ablate::store {

// --- States ------------------------------------------------------------------------------------
// kUnspecified is no state: what a default record holds, and what the store refuses wherever
// a state is needed (a RunFinished or JobFinished without one is InvalidArgument).

enum class JobState { kUnspecified = 0, kQueued, kRunning, kSucceeded, kFailed, kCancelled };
enum class RunState {
  kUnspecified = 0,
  kQueued,
  kRunning,
  kCompleted,  // ran every step (it may still have flatlined)
  kDiverged,   // stopped at its first non-finite loss
  kCancelled,
  kFailed,
};

// The state's lowercase word, as the database, /metrics and people spell it ("queued",
// "succeeded", "diverged", ...); nullptr for kUnspecified or a value out of range. The one table
// of state names on the server.
const char* StateName(JobState state);
const char* StateName(RunState state);
// The state a word names; nothing for any other text (exact, lowercase).
std::optional<JobState> JobStateNamed(absl::string_view name);
std::optional<RunState> RunStateNamed(absl::string_view name);
// Whether the state is an end: nothing changes it again. The one such rule on the server.
bool IsTerminal(JobState state);
bool IsTerminal(RunState state);

// --- Runs --------------------------------------------------------------------------------------

// The part of a run's spec that the store keeps in the run's own row (the rest of it is in the
// job's spec): what ListJobs filters on (init) and what tells a job's runs apart.
struct RunInit {
  std::string init;
  std::optional<uint64_t> weight_seed;
  std::optional<double> uniform_low;
  std::optional<double> uniform_high;
};

// Validation loss and accuracy of one run after `step` updates.
struct EvalRecord {
  int64_t run_id = 0;
  int32_t step = 0;
  float loss = 0;      // may be NaN or ±inf
  float accuracy = 0;  // finite, in [0, 1]
};

// One layer's statistics on the probe batch (their meaning: LayerStats in ablate.proto).
struct LayerStatsRecord {
  double weight_variance = 0;
  double activation_mean = 0;
  double activation_std = 0;
  std::optional<double> first_step_grad_norm;  // in init_stats only, when step 0 was finite
};

// A run's summary, as stored; times are whole milliseconds.
struct RunRecord {
  int64_t id = 0;
  int64_t job_id = 0;
  int32_t index = 0;  // position in the job's spec, from 0
  RunInit spec;
  RunState state = RunState::kUnspecified;
  std::string outcome;
  int32_t steps_done = 0;
  std::optional<int32_t> first_nonfinite_step;
  std::optional<int32_t> flatline_step;
  std::optional<float> final_loss;  // may be NaN or ±inf
  std::optional<EvalRecord> final_eval;
  std::vector<LayerStatsRecord> init_stats;
  std::vector<LayerStatsRecord> final_stats;
  double seconds = 0;
  double steps_per_second = 0;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> finished_at;
  std::string fingerprint;     // empty before the run starts
  std::string restart_reason;  // empty when it never started over
};

// --- Jobs --------------------------------------------------------------------------------------

// What CreateJob stores. The spec is kept as the caller's serialized bytes, and given back
// unchanged in JobRecord::spec_proto: the store never reads inside it, so it needs neither the
// wire schema nor a copy of it, and every number in it comes back with its bits. What the store
// does need to see of it (the name, the runs' inits it indexes and filters on) comes as columns
// beside it, and `spec_json` is a view of it for people and SQL (jobs.spec in schema.sql).
struct NewJob {
  std::string name;
  std::string spec_proto;
  std::string spec_json;
  std::vector<RunInit> runs;  // in spec order
};

struct JobRecord {
  int64_t id = 0;
  std::string name;
  std::string owner;
  JobState state = JobState::kUnspecified;
  std::string spec_proto;       // NewJob::spec_proto, as given
  std::vector<RunRecord> runs;  // in spec order
  absl::Time created_at;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> finished_at;
  std::string error;  // set when the job failed
  std::string note;   // empty when none
  std::vector<std::string> tags;  // sorted
};

// Which jobs ListJobs returns: every filter set narrows it; the defaults select every job.
struct JobQuery {
  std::string owner;             // exact match
  std::vector<JobState> states;  // any of these (each a state, not kUnspecified)
  std::string init;              // a run of this init scheme
  std::string name_contains;     // case-sensitive
  std::string tag;               // exact match
  std::optional<absl::Time> created_after;   // at or after
  std::optional<absl::Time> created_before;  // strictly before
  int page_size = 0;        // 1–1000; 0 means 50
  std::string page_token;   // a previous JobPage's next_page_token; empty for the first page
};

// --- What happened to a job after a cursor (JobStore::ReadUpdate) ------------------------------

struct RunStartedMark {
  int64_t run_id = 0;
  int32_t index = 0;
};

struct RunRestartedMark {
  int64_t run_id = 0;
  int32_t index = 0;
  std::string reason;
};

// Consecutive steps of one run: losses[i] and seconds[i] are step first_step + i.
struct StepSpan {
  int64_t run_id = 0;
  int32_t first_step = 0;
  std::vector<float> losses;
  std::vector<float> seconds;
};

struct StoredUpdate {
  uint64_t cursor = 0;
  std::vector<RunRestartedMark> runs_restarted;
  std::vector<RunStartedMark> runs_started;  // in event order
  std::vector<StepSpan> steps;
  std::vector<EvalRecord> evals;
  std::vector<RunRecord> runs_finished;  // in event order, as stored now
  std::optional<JobRecord> job_finished;  // as stored now
};

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_RECORDS_H_
