// An in-process stand-in for ablate-server, for testing the CLI over real gRPC.
//
// It serves canned jobs, a scripted WatchJob stream (which can be cut with UNAVAILABLE after
// a given number of updates, to test resumption), artifacts, and paged ListJobs; and it
// records what the client asked for. Not a model of the real server's logic.
#ifndef ABLATE_TESTS_CLIENT_FAKE_SERVER_H_
#define ABLATE_TESTS_CLIENT_FAKE_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ablate/v1/ablate.grpc.pb.h"

namespace ablate::client::testing {

// Lab 1's job as the server would store it, with `steps` steps: defaults filled in, three
// runs uniform, xavier, kaiming with ids 100 * job_id + 1, 2, 3, created at
// 2024-05-01T12:00Z plus job_id minutes. A finished job's runs carry final summaries matching
// TrainingHistory; a queued job's runs are queued.
v1::Job LabJob(int64_t job_id, v1::JobState state, int steps = 10);

// A WatchJob history for `job` (from LabJob) in which every run trains `steps` steps, sent
// `per_update` steps per update per run; the first run diverges at its last step, the others
// complete. The last update carries job_finished with `final_state`. Cursors are 1, 2, ...
std::vector<v1::JobUpdate> TrainingHistory(const v1::Job& job, int steps, int per_update,
                                           v1::JobState final_state);

class FakeAblation final : public v1::Ablation::Service {
 public:
  // --- Script (set before the client runs) ---
  std::map<int64_t, v1::Job> jobs;  // GetJob, CancelJob, ListJobs
  // GetJob answers these first, one per call, whatever the id (a job moving up the queue).
  std::deque<v1::Job> get_job_script;
  // WatchJob, for any job id in `jobs`; sending job_finished also stores that job.
  std::vector<v1::JobUpdate> history;
  // WatchJob call i (0-based) ends with UNAVAILABLE after sending this many updates.
  std::map<int, int> cut_after;
  // WatchJob call i blocks after sending this many updates until the server shuts down.
  std::map<int, int> hang_after;
  // Pause before each update, to watch a live display by hand.
  std::chrono::milliseconds update_interval{0};
  std::map<std::string, std::string> artifacts;   // GetArtifact by name
  // CancelJob answers with the job unchanged, as a server whose runs had not stopped yet when
  // it answered.
  bool cancel_still_running = false;
  grpc::Status cancel_status = grpc::Status::OK;  // CancelJob's answer when not OK
  int cancel_calls = 0;                           // CancelJob calls for a job it has
  bool corrupt_artifacts = false;                 // announce a wrong SHA-256
  std::string corrupt_artifact;                   // announce a wrong SHA-256 for this one
  int unavailable_artifact_calls = 0;             // the first this many GetArtifact calls fail
  size_t chunk_size = 7;                          // bytes per ArtifactChunk
  std::chrono::milliseconds chunk_interval{0};    // pause before each ArtifactChunk
  int stall_after_chunks = -1;  // when >= 0: after this many chunks, send nothing until cancelled
  int list_page_size = 2;                         // jobs per ListJobs page, newest first
  grpc::Status submit_status = grpc::Status::OK;  // SubmitJob's answer when not OK
  grpc::Status check_status = grpc::Status::OK;   // CheckJob's answer when not OK
  v1::GetTrajectoryResponse trajectory;           // GetTrajectory for any run

  // --- Record (read after the client ran) ---
  std::vector<v1::SubmitJobRequest> submits;
  std::vector<v1::SubmitJobRequest> checks;
  std::vector<uint64_t> watch_cursors;
  std::vector<v1::ListJobsRequest> list_requests;
  std::vector<v1::GetTrajectoryRequest> trajectory_requests;
  std::vector<std::string> artifact_requests;
  int artifact_calls_at_once = 0;       // GetArtifact calls in progress now...
  int artifact_calls_at_once_most = 0;  // ...and at most, so far
  // The "authorization" metadata of each SubmitJob and WatchJob call ("" when none was sent).
  std::vector<std::string> authorizations;

  std::mutex mutex;  // guards the records, as gRPC threads write them
  std::condition_variable watch_hung;
  int hung_calls = 0;

  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override;
  grpc::Status CheckJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                        v1::SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                      v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobUpdate>* writer) override;
  grpc::Status GetTrajectory(grpc::ServerContext*, const v1::GetTrajectoryRequest* request,
                             v1::GetTrajectoryResponse* response) override;
  grpc::Status GetArtifact(grpc::ServerContext*, const v1::GetArtifactRequest* request,
                           grpc::ServerWriter<v1::ArtifactChunk>* writer) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest* request,
                         v1::CancelJobResponse* response) override;

 private:
  int watch_calls_ = 0;
};

// Serves `service` on 127.0.0.1 (on `port`, or any free port when 0) until destroyed or
// Stop() is called.
class FakeServer {
 public:
  explicit FakeServer(FakeAblation* service, int port = 0);
  ~FakeServer() { Stop(); }
  // Shuts the server down, cancelling calls still open.
  void Stop();
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace ablate::client::testing

#endif  // ABLATE_TESTS_CLIENT_FAKE_SERVER_H_
