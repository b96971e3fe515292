// The job store: jobs, their runs, the events that drive them, and what they recorded
// (trajectories, update slices). Implemented by SqliteStore, opened through Store::Open.
#ifndef ABLATE_SERVER_STORE_JOB_STORE_H_
#define ABLATE_SERVER_STORE_JOB_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/events.h"
#include "server/store/records.h"

namespace ablate::store {

struct JobPage {
  std::vector<JobRecord> jobs;  // newest first, runs with summaries
  std::string next_page_token;  // empty on the last page
};

struct Trajectory {
  int64_t run_id = 0;
  std::vector<int32_t> steps;  // ascending, every recorded step
  std::vector<float> losses;   // exactly as recorded, NaN and ±inf included (NaN payload
                               // bits are not kept)
  std::vector<float> weight_grad_norms;
  std::vector<float> step_seconds;
  std::vector<EvalRecord> evals;  // ascending by step
};

// Who a job belongs to: what the access rules need to know about it.
struct JobAccess {
  std::string owner;
  std::optional<int64_t> class_id;  // none: submitted while the server had no users
  JobState state = JobState::kUnspecified;
};

// A run's latest submission to Slurm (server/worker/slurm_executor.h).
struct SlurmDispatch {
  int64_t slurm_job_id = 0;
  std::string secret_sha256;  // lowercase hex SHA-256 of the worker's secret
  int dispatches = 0;         // submissions of the run so far, this one included
};

// Thread-safe: any thread may call any method.
class JobStore {
 public:
  virtual ~JobStore() = default;

  // Stores a job and its runs as queued. `job` comes from a resolved spec (defaults filled,
  // validated; see NewJob for why the spec is bytes). Returns the job with its id, its runs'
  // ids (in spec order) and created_at = now. Times are stored in whole milliseconds, here and
  // everywhere. `class_id` is the class of the user who submitted it (none without
  // authentication); NotFound for an unknown class.
  virtual absl::StatusOr<JobRecord> CreateJob(const NewJob& job, const std::string& owner,
                                              absl::Time now,
                                              std::optional<int64_t> class_id = std::nullopt) = 0;

  // A job with its runs' summaries. NotFound names the id.
  virtual absl::StatusOr<JobRecord> GetJob(int64_t job_id) = 0;
  // A run's summary. NotFound names the id.
  virtual absl::StatusOr<RunRecord> GetRun(int64_t run_id) = 0;

  // Jobs matching the query, newest (highest id) first; page_size 0 means 50. With `class_id`,
  // only that class's jobs. InvalidArgument for a malformed page token, a page_size outside
  // 0–1000 or a state that is kUnspecified.
  virtual absl::StatusOr<JobPage> ListJobs(const JobQuery& query,
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
  // new). Steps of a run are grouped into StepSpans of consecutive steps. RunFinished and
  // JobFinished carry the run's / job's state as stored now. max_events must be at least 1.
  virtual absl::StatusOr<StoredUpdate> ReadUpdate(int64_t job_id, uint64_t after,
                                                  int max_events) = 0;

  // A run's recorded steps and evaluations (not those a restart set aside). NotFound names the
  // id.
  virtual absl::StatusOr<Trajectory> GetTrajectory(int64_t run_id) = 0;

  // A job's owner, class and state, without its spec and runs. NotFound names the id.
  virtual absl::StatusOr<JobAccess> GetJobAccess(int64_t job_id) = 0;

  // Deletes a job that has ended, with its runs, steps, evaluations and artifacts. NotFound
  // names the id; FailedPrecondition while the job is queued or running.
  virtual absl::Status DeleteJob(int64_t job_id) = 0;

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

  // --- A job's note and tags, which JobRecord carries (GetJob, ListJobs). Values
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
  virtual absl::StatusOr<std::map<JobState, int64_t>> CountJobs() {
    return absl::UnimplementedError("this store does not count jobs");
  }
};

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_JOB_STORE_H_
