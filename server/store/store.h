// The store: jobs, runs, per-step trajectories, evaluations and artifacts in one SQLite
// database, queryable with plain SQL (see schema.sql for the tables).
//
// Every change to a running job is an Event. The server's single writer thread appends events
// in batches, one transaction per batch; the store gives each event the job's next sequence
// number, so "everything after sequence N" is a well-defined, resumable slice of a job's
// history (the cursor of WatchJob).
#ifndef ABLATE_SERVER_STORE_STORE_H_
#define ABLATE_SERVER_STORE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ablate::store {

// --- Events -----------------------------------------------------------------------------------

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
// finished_at; its id fields name the run. A run with recorded steps keeps the steps_done,
// first_nonfinite_step and final_loss its steps give; a seconds or steps_per_second of 0 means
// "not measured" and keeps the running value.
struct RunFinishedEvent {
  v1::Run summary;
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
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
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

// --- Queries ----------------------------------------------------------------------------------

struct JobPage {
  std::vector<v1::Job> jobs;     // newest first, runs with summaries
  std::string next_page_token;  // empty on the last page
};

struct Trajectory {
  int64_t run_id = 0;
  std::vector<int32_t> steps;  // ascending, every recorded step
  std::vector<float> losses;   // exactly as recorded, NaN and ±inf included (NaN payload
                               // bits are not kept)
  std::vector<float> weight_grad_norms;
  std::vector<float> step_seconds;
  std::vector<v1::EvalResult> evals;  // ascending by step
};

// --- Classes, users and tokens -------------------------------------------------------------------

// What a user may do (see server/service/service.h for the rules).
enum class Role {
  kStudent,     // submits, cancels and deletes own jobs; reads every job of the class
  kInstructor,  // also cancels and deletes every job of the class
};

// A run's latest submission to Slurm (server/worker/slurm_executor.h).
struct SlurmDispatch {
  int64_t slurm_job_id = 0;
  std::string secret_sha256;  // lowercase hex SHA-256 of the worker's secret
  int dispatches = 0;         // submissions of the run so far, this one included
};

// A user with their class, as the store returns them.
struct User {
  int64_t id = 0;
  std::string name;
  int64_t class_id = 0;
  std::string class_name;
  Role role = Role::kStudent;
  absl::Time created_at;
  int live_tokens = 0;  // tokens not revoked (ListUsers only; 0 elsewhere)
};

// Who a job belongs to: what the access rules need to know about it.
struct JobAccess {
  std::string owner;
  std::optional<int64_t> class_id;  // none: submitted while the server had no users
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
};

struct Artifact {
  std::string name;
  std::string content_type;
  std::string data;
  std::string sha256;  // lowercase hex of data; PutArtifact fills it in when empty
};

// --- The store ----------------------------------------------------------------------------------

// How Store::Open opens a database file.
struct OpenOptions {
  // The most the database may hold, in bytes (0: no limit), rounded down to whole pages and
  // never below what it holds already. A write that would need more fails with
  // ResourceExhausted, exactly as on a full disk: an operator's cap on the data directory, and
  // the deterministic way to test a full disk.
  int64_t max_bytes = 0;
  // Opens the file read-only, for a data directory the server may not write to: reads work,
  // every write fails with FailedPrecondition naming the file, and nothing on disk changes (no
  // migration, no -wal or -shm file created). The file must exist and be at SchemaVersion().
  bool read_only = false;
};

// Thread-safe: any thread may call any method. Appends serialise on one write connection;
// reads run concurrently with them (WAL mode) on a pool of read connections.
class Store {
 public:
  // Opens the database at `path`, creating it and its schema if needed and applying every
  // migration newer than the file's schema version, in WAL mode with foreign keys on.
  // ":memory:" gives a private in-memory database (for tests). Returns an error naming the path
  // when it cannot be opened or is not an Ablate database.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  // The same, with options; a file that does not exist is an error when read_only.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path,
                                                     const OpenOptions& options);
  virtual ~Store() = default;

  // The schema version this build writes; Open migrates older files up to it.
  static int SchemaVersion();

  // Stores a job and its runs as queued. `spec` must be resolved (defaults filled, validated).
  // Returns the job with its id, its runs' ids (in spec order) and created_at = now. Times are
  // stored in whole milliseconds, here and everywhere. `class_id` is the class of the user who
  // submitted it (none without authentication); NotFound for an unknown class.
  virtual absl::StatusOr<v1::Job> CreateJob(const v1::JobSpec& spec, const std::string& owner,
                                            absl::Time now,
                                            std::optional<int64_t> class_id = std::nullopt) = 0;

  // A job with its runs' summaries. NotFound names the id.
  virtual absl::StatusOr<v1::Job> GetJob(int64_t job_id) = 0;
  // A run's summary. NotFound names the id.
  virtual absl::StatusOr<v1::Run> GetRun(int64_t run_id) = 0;

  // Jobs matching the request's filters, newest (highest id) first; page_size 0 means 50.
  // With `class_id`, only that class's jobs. InvalidArgument for a malformed page token or a
  // page_size outside 0–1000.
  virtual absl::StatusOr<JobPage> ListJobs(const v1::ListJobsRequest& request,
                                           std::optional<int64_t> class_id = std::nullopt) = 0;

  // Ids of jobs that are queued or were running when the server stopped, oldest first: the
  // work a starting server has to (re)schedule.
  virtual absl::StatusOr<std::vector<int64_t>> UnfinishedJobs() = 0;

  // How many of `owner`'s jobs are queued or running (the per-user quota counts them). The
  // caller that needs the count to still hold at its next CreateJob serialises the two itself.
  virtual absl::StatusOr<int> CountActiveJobs(const std::string& owner) = 0;

  // Appends events in one transaction, giving each the next sequence number of its job (events
  // of one job keep their order). Returns each touched job's newest cursor, in the order the
  // jobs first appear. Nothing is written when it fails. A failure because of an event is
  // permanent (the same batch fails again): NotFound for an unknown job or run, AlreadyExists
  // for a step or eval recorded before, InvalidArgument for a malformed event (negative step,
  // non-finite seconds or accuracy, a non-final state in RunFinished or JobFinished), and
  // FailedPrecondition for an event out of its lifecycle (a step or eval of a run that is not
  // running, RunStarted or RunFinished of a run that has ended, anything after JobFinished).
  // Unavailable (locked by another process) and ResourceExhausted (disk full) are transient;
  // PermissionDenied (the file or its file system became read-only) may be.
  virtual absl::StatusOr<std::vector<JobCursor>> Append(std::span<const Event> events) = 0;

  // The job's newest sequence number (0 before its first event).
  virtual absl::StatusOr<uint64_t> Cursor(int64_t job_id) = 0;

  // Everything recorded for a job with a sequence number in (after, after + max_events], as
  // one update whose cursor is the last sequence number included (== after when nothing
  // new). Steps of a run are grouped into StepLosses of consecutive steps. RunFinished and
  // JobFinished carry the run's / job's state as stored now. max_events must be at least 1.
  virtual absl::StatusOr<v1::JobUpdate> ReadUpdate(int64_t job_id, uint64_t after,
                                                   int max_events) = 0;

  // A run's recorded steps and evaluations (not those a restart set aside). NotFound names the
  // id.
  virtual absl::StatusOr<Trajectory> GetTrajectory(int64_t run_id) = 0;

  // Stores (or replaces, keeping its place in the list) one of a job's files. An empty
  // artifact.sha256 is computed; a given one must match the data (InvalidArgument otherwise).
  virtual absl::Status PutArtifact(int64_t job_id, const Artifact& artifact) = 0;
  // NotFound names the job and the file.
  virtual absl::StatusOr<Artifact> GetArtifact(int64_t job_id, const std::string& name) = 0;
  // Names of a job's stored files, in insertion order.
  virtual absl::StatusOr<std::vector<std::string>> ListArtifacts(int64_t job_id) = 0;

  // A job's owner, class and state, without its spec and runs. NotFound names the id.
  virtual absl::StatusOr<JobAccess> GetJobAccess(int64_t job_id) = 0;

  // Deletes a job that has ended, with its runs, steps, evaluations and artifacts. NotFound
  // names the id; FailedPrecondition while the job is queued or running.
  virtual absl::Status DeleteJob(int64_t job_id) = 0;

  // --- Classes, users and tokens. Names are checked by the caller (server/auth/names.h); the
  // database's UNIQUE constraints make AlreadyExists, which names the class or user.

  // Creates a class; returns its id.
  virtual absl::StatusOr<int64_t> CreateClass(const std::string& name, absl::Time now) = 0;
  // Creates a user in an existing class (NotFound names the class).
  virtual absl::StatusOr<User> CreateUser(const std::string& class_name, const std::string& name,
                                          Role role, absl::Time now) = 0;
  // Records a token of a user by its SHA-256 (lowercase hex) and its first characters.
  // NotFound names the user.
  virtual absl::Status AddToken(const std::string& user_name, const std::string& sha256_hex,
                                const std::string& prefix, absl::Time now) = 0;
  // Revokes a user's live tokens, or only those whose prefix starts with `prefix` when it is not
  // empty. Returns how many were revoked. NotFound names the user.
  virtual absl::StatusOr<int> RevokeTokens(const std::string& user_name, const std::string& prefix,
                                           absl::Time now) = 0;
  // The user a live (not revoked) token belongs to, looked up by the token's SHA-256; none for
  // an unknown or revoked token.
  virtual absl::StatusOr<std::optional<User>> UserByToken(const std::string& sha256_hex) = 0;
  // Whether any user exists: authentication is required exactly when one does.
  virtual absl::StatusOr<bool> HasUsers() = 0;
  // Users of one class (every class when `class_name` is empty), by class then name, with
  // live_tokens filled in. NotFound for an unknown class.
  virtual absl::StatusOr<std::vector<User>> ListUsers(const std::string& class_name) = 0;
  // --- Runs on Slurm. Unimplemented for a store that does not keep them (test doubles).
  // Records (or replaces) a run's latest Slurm submission. NotFound for an unknown run.
  virtual absl::Status PutSlurmDispatch(int64_t run_id, const SlurmDispatch& dispatch) {
    (void)run_id;
    (void)dispatch;
    return absl::UnimplementedError("this store does not keep Slurm dispatches");
  }
  // A run's latest Slurm submission; nothing when it was never submitted.
  virtual absl::StatusOr<std::optional<SlurmDispatch>> GetSlurmDispatch(int64_t run_id) {
    (void)run_id;
    return absl::UnimplementedError("this store does not keep Slurm dispatches");
  }

  // --- A job's note and tags, which Job.note and Job.tags carry (GetJob, ListJobs). Values
  // are checked by the caller (server/service/notes.h).
  // Replaces job `job_id`'s note ("" removes it) and its set of tags. NotFound names the job.
  // Unimplemented for a store that does not keep them (test doubles).
  virtual absl::Status SetJobNotes(int64_t job_id, const std::string& note,
                                   const std::vector<std::string>& tags) {
    (void)job_id;
    (void)note;
    (void)tags;
    return absl::UnimplementedError("this store does not keep notes");
  }

  // How many jobs are in each state (states without jobs are absent): what /metrics reports.
  // Unimplemented for a store that cannot count (test doubles).
  virtual absl::StatusOr<std::map<v1::JobState, int64_t>> CountJobs() {
    return absl::UnimplementedError("this store does not count jobs");
  }
};

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_STORE_H_
