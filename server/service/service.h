// The service layer: the one implementation of Ablate's API. The gRPC front door (server/rpc)
// and the HTTP gateway (server/http) translate their requests into these calls and the
// results back; neither holds logic of its own.
#ifndef ABLATE_SERVER_SERVICE_SERVICE_H_
#define ABLATE_SERVER_SERVICE_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/artifacts/bundle.h"
#include "server/auth/authenticator.h"
#include "server/auth/principal.h"
#include "server/jobs/cursor_hub.h"
#include "server/jobs/job_manager.h"
#include "server/service/download_shelf.h"
#include "server/service/live_tail.h"
#include "server/service/stream_limits.h"
#include "server/service/thread_pool.h"
#include "server/store/store.h"

namespace ablate::service {

// Limits that keep one user from starving the class; 0 turns a limit off.
struct ServiceOptions {
  // Jobs one owner may have queued or running at once (--max-active-jobs-per-user). The
  // scheduler already keeps a long queue from holding back others; this stops a runaway
  // script, while a scripted sweep of a few dozen small jobs still fits.
  int max_active_jobs_per_user = 32;
  // Multiply-adds one job may need, as JobMultiplyAdds counts them (--max-job-compute). The
  // default is about 70 times lab 1's 1.4e11.
  double max_job_compute = 1e13;
  // Bytes of data one job may hold, as JobDataBytes counts them (--max-job-memory, in MiB).
  // The default is about 140 times lab 1's 3.7 MB.
  int64_t max_job_memory_mib = 512;
  // The live tails' memory and pacing (live_tail.h).
  LiveOptions live = {};
  // The live streams' caps and token re-check (stream_limits.h).
  StreamLimitOptions streams = {};
  // Bytes of files held for downloads in flight at once (--max-download-memory, in MiB;
  // download_shelf.h). The default holds twenty of the largest job's losses.json (47 MB).
  int64_t max_download_memory_mib = 1024;
};

// The forward passes a resolved spec asks for, in multiply-adds:
// runs × (training.steps × training.batch + evaluations × data.val_size) × the sum over layers
// of n_in × n_out, where evaluations = training.steps / training.eval_every + 1 (every
// eval_every steps and after the last, counted generously) and the layers are input_dim →
// width, depth − 2 times width → width, and width → classes (one input_dim → classes layer
// when depth is 1). Validation costs as much per example as a training forward pass; the
// backward pass costs about twice as much again, and scales with the same product.
double JobMultiplyAdds(const v1::JobSpec& resolved);

// The data a resolved spec makes its runs hold, in bytes: runs × (data.train_size +
// data.val_size) × model.input_dim × 4 (a float per input): every run generates its own copy,
// and all of a job's runs may train at once.
double JobDataBytes(const v1::JobSpec& resolved);

// Thread-safe. Every method returns quickly except Cancel, which waits up to a few seconds
// for the runs to stop.
//
// Who may do what. Every method takes the caller, which the front door gets from
// Authenticate(token). With no caller (a server without users) everything is allowed, as
// before authentication existed. With one:
// - a student submits jobs (owned by them, in their class), reads every job of their class
//   (get, list, watch, trajectory, files) and cancels or deletes their own: PermissionDenied,
//   naming the owner, for another's;
// - the instructor does all of that for every job of their class;
// - a job of another class, or one submitted before the server had users, is NotFound, with
//   the same sentence as a job that does not exist; ListJobs shows only the caller's class.
class AblationService {
 public:
  // Borrows everything, which must outlive the service.
  AblationService(store::Store& store, jobs::JobManager& jobs, jobs::CursorHub& hub,
                  ThreadPool& watch_pool, ServiceOptions options = {});
  // Stops the streams' token re-check.
  ~AblationService();

  // The caller a request's bearer token (empty when it had none) stands for; see
  // auth::Authenticator::Authenticate. Call it for every request.
  absl::StatusOr<auth::Caller> Authenticate(std::string_view token);

  // InvalidArgument names the first bad field and its range. ResourceExhausted, in one
  // sentence naming the limit, its flag and the value, when the job needs more than
  // max_job_compute or its owner already has max_active_jobs_per_user jobs queued or running.
  absl::StatusOr<v1::Job> SubmitJob(const auth::Caller& caller,
                                    const v1::SubmitJobRequest& request);
  // SubmitJob's checks without the job: the job it would make (id 0), or its error. The
  // per-user active-jobs limit is not checked (it is the real submit's moment that counts).
  absl::StatusOr<v1::Job> CheckJob(const auth::Caller& caller,
                                   const v1::SubmitJobRequest& request);
  // NotFound for an unknown id. Job.runs_ahead is set while one of its runs waits.
  absl::StatusOr<v1::Job> GetJob(const auth::Caller& caller, const v1::GetJobRequest& request);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const auth::Caller& caller,
                                                const v1::ListJobsRequest& request);
  // NotFound for an unknown job; OutOfRange when the cursor is past the job's last event
  // (a cursor from another job or server). The watch ends after the update that carries the
  // job's end; on an ended job it replays what follows the cursor, then the end.
  absl::StatusOr<std::unique_ptr<JobWatch>> WatchJob(const auth::Caller& caller,
                                                     const v1::WatchJobRequest& request);
  // The live streams' caps and token re-check, for the front doors.
  StreamLimits& Streams() { return *streams_; }
  // Reads of the store made for watchers (/metrics).
  uint64_t WatchStoreReads() const { return tails_->StoreReads(); }
  // ablate_watch_delay_seconds (LiveTails::Delays).
  metrics::HistogramSnapshot WatchDelays() const { return tails_->Delays(); }
  // NotFound for an unknown run; InvalidArgument for max_points outside 0 or 10–100000.
  absl::StatusOr<v1::GetTrajectoryResponse> GetTrajectory(const auth::Caller& caller,
                                                          const v1::GetTrajectoryRequest& request);
  // FailedPrecondition while the job runs; NotFound for an unknown job or file name.
  // The file as held for its downloads in flight (download_shelf.h): Unavailable when the
  // server holds as many bytes for downloads as --max-download-memory allows.
  absl::StatusOr<std::shared_ptr<const HeldArtifact>> GetArtifact(
      const auth::Caller& caller, const v1::GetArtifactRequest& request);
  // NotFound for an unknown id.
  absl::StatusOr<v1::Job> CancelJob(const auth::Caller& caller,
                                    const v1::CancelJobRequest& request);
  // FailedPrecondition while the job is queued or running; NotFound for an unknown id.
  absl::StatusOr<v1::DeleteJobResponse> DeleteJob(const auth::Caller& caller,
                                                  const v1::DeleteJobRequest& request);
  // Replaces the note and edits the tags (notes.h: the policy and its errors) of a job the
  // caller may manage: PermissionDenied, in a sentence, for a student's edit of another's job;
  // NotFound for an unknown id. Returns the job as stored after.
  absl::StatusOr<v1::Job> UpdateJobNotes(const auth::Caller& caller,
                                         const v1::UpdateJobNotesRequest& request);
  // Who the caller is (auth_enabled false without a caller).
  static v1::WhoAmIResponse WhoAmI(const auth::Caller& caller);
  // The caller's class's newest kMaxClassViewJobs jobs (class_view.h), grouped; every
  // student's row for the instructor or without a caller, the caller's own for a student.
  // InvalidArgument for grid_points outside 0 or 10–1000.
  absl::StatusOr<v1::ClassView> GetClassView(const auth::Caller& caller,
                                             const v1::GetClassViewRequest& request);

 private:
  // OK when the caller may read job `job_id`; NotFound (as for an unknown job) otherwise.
  absl::Status CheckRead(const auth::Caller& caller, int64_t job_id);
  // OK when the caller may also cancel or delete it; `verb` words the refusal.
  absl::Status CheckManage(const auth::Caller& caller, int64_t job_id, const char* verb);
  // What a submit of `request` would store: the resolved spec, its owner and class, once the
  // request passed every check that does not depend on other jobs.
  struct Admitted {
    v1::JobSpec spec;
    std::string owner;
    std::optional<int64_t> class_id;
  };
  absl::StatusOr<Admitted> Admit(const auth::Caller& caller, const v1::SubmitJobRequest& request);

  store::Store& store_;
  auth::Authenticator authenticator_;
  jobs::JobManager& jobs_;
  jobs::CursorHub& hub_;
  const ServiceOptions options_;
  std::unique_ptr<LiveTails> tails_;
  std::unique_ptr<StreamLimits> streams_;
  artifacts::BundlingArtifactStore files_{store_};  // the store as downloads see it (bundle.zip)
  DownloadShelf downloads_;
  // Held from counting an owner's active jobs to storing the new one, so that two submits at
  // the limit cannot both pass.
  absl::Mutex submit_mutex_;  // guards no member: a critical section of Submit
  // Held across UpdateJobNotes' read, edit and write, so that two edits of one job's tags both
  // land (and the tag limit holds) rather than one overwriting the other.
  absl::Mutex notes_mutex_;  // guards no member: a critical section of UpdateJobNotes
};

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_SERVICE_H_
