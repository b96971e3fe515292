// The service layer: the one implementation of Ablate's API. The gRPC front door (server/rpc)
// and the HTTP gateway (server/http) translate their requests into these calls and the
// results back; neither holds logic of its own.
#ifndef ABLATE_SERVER_SERVICE_SERVICE_H_
#define ABLATE_SERVER_SERVICE_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "server/jobs/cursor_hub.h"
#include "server/jobs/job_manager.h"
#include "server/service/thread_pool.h"
#include "server/store/store.h"

namespace ablate::service {

// One client's stream of a job's updates. Pull-driven, so a slow client holds back only
// itself: ask for the next update when ready for it.
//
// Why there is no per-watcher buffer: a watch reads the store after its cursor when asked,
// so the server holds at most one update per watcher (the write in flight, at most a few
// thousand events), and the stream's HTTP/2 flow-control window bounds what sits in the
// network. A watcher that stops reading stops being asked for more; training, the writer and
// other watchers never wait on it (tests/server/rpc/watchers_test.cc). Nor can a watcher fall
// out of a buffer: every committed event stays in the store, so a slow or reconnecting client
// simply resumes from its cursor, which is the normal path, not a recovery.
class JobWatch {
 public:
  using Callback = std::function<void(absl::StatusOr<v1::JobUpdate>)>;
  // Stops the watch (Cancel).
  virtual ~JobWatch() = default;

  // Asks for the next update. `done` is called once, on a pool thread: as soon as the store
  // holds something after the cursor (which may mean waiting for training), or with an error.
  // The update that carries job_finished is the last: do not call Next after it. One Next at a
  // time.
  virtual void Next(Callback done) = 0;

  // Drops a pending Next. When it returns, no callback is running or will run.
  virtual void Cancel() = 0;
};

// Thread-safe. Every method returns quickly except Cancel, which waits up to a few seconds
// for the runs to stop.
class AblationService {
 public:
  // Borrows everything, which must outlive the service.
  AblationService(store::Store& store, jobs::JobManager& jobs, jobs::CursorHub& hub,
                  ThreadPool& watch_pool);

  // InvalidArgument names the first bad field and its range.
  absl::StatusOr<v1::Job> SubmitJob(const v1::SubmitJobRequest& request);
  // NotFound for an unknown id.
  absl::StatusOr<v1::Job> GetJob(const v1::GetJobRequest& request);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  // NotFound for an unknown job.
  absl::StatusOr<std::unique_ptr<JobWatch>> WatchJob(const v1::WatchJobRequest& request);
  // NotFound for an unknown run; InvalidArgument for max_points outside 0 or 10–100000.
  absl::StatusOr<v1::GetTrajectoryResponse> GetTrajectory(
      const v1::GetTrajectoryRequest& request);
  // FailedPrecondition while the job runs; NotFound for an unknown job or file name.
  absl::StatusOr<store::Artifact> GetArtifact(const v1::GetArtifactRequest& request);
  // NotFound for an unknown id.
  absl::StatusOr<v1::Job> CancelJob(const v1::CancelJobRequest& request);

 private:
  store::Store& store_;
  jobs::JobManager& jobs_;
  jobs::CursorHub& hub_;
  ThreadPool& watch_pool_;
};

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_SERVICE_H_
