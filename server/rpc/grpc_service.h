// The gRPC front door: ablate.v1.Ablation on gRPC's callback API, translating each call to
// the service layer and each absl::Status to a grpc::Status. Every call is authenticated by
// the bearer token in its "authorization" metadata ("Bearer <token>"), if any.
#ifndef ABLATE_SERVER_RPC_GRPC_SERVICE_H_
#define ABLATE_SERVER_RPC_GRPC_SERVICE_H_

#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "ablate/v1/ablate.grpc.pb.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/service/service.h"
#include "server/service/thread_pool.h"

namespace ablate::rpc {

// The one mapping from the service's errors to gRPC's: same code, same message.
grpc::Status ToGrpcStatus(const absl::Status& status);

class WatchReactor;

// Calls whose client stopped taking what they send: one whose write has not completed
// `timeout` after it started is cancelled. A file download so stalled would otherwise hold its
// file on the download shelf (download_shelf.h) until the client went away; HTTP drops such a
// client after --http-write-timeout the same way. Thread-safe.
class StalledWrites {
 public:
  // One call's writes, shared by its reactor and the sweeper (defined in the .cc).
  struct Call;

  explicit StalledWrites(std::chrono::milliseconds timeout);
  ~StalledWrites();  // every call must have ended
  StalledWrites(const StalledWrites&) = delete;
  StalledWrites& operator=(const StalledWrites&) = delete;

  // A call to watch, from its start until Ended (in its reactor's OnDone).
  std::shared_ptr<Call> Add(grpc::CallbackServerContext* context);
  // A write of the call starts now; Finished when it completes.
  static void Started(Call& call);
  static void Finished(Call& call);
  void Ended(const std::shared_ptr<Call>& call);

 private:
  void Sweep();
  const std::chrono::milliseconds timeout_;
  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::set<std::shared_ptr<Call>> calls_ ABSL_GUARDED_BY(mutex_);
  std::thread sweeper_;  // last: started once the rest is set
};

class GrpcService final : public v1::Ablation::CallbackService {
 public:
  // Borrows the service and a pool for the unary calls' work (store reads and writes, and
  // CancelJob's wait), so that no reaction blocks a gRPC thread. Both must outlive every call.
  // A file download whose client takes no chunk for `download_write_timeout` is cancelled.
  GrpcService(service::AblationService& service, service::ThreadPool& pool,
              std::chrono::milliseconds download_write_timeout = std::chrono::seconds(30))
      : service_(service),
        pool_(pool),
        stalled_downloads_(std::make_unique<StalledWrites>(download_write_timeout)) {}

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const v1::SubmitJobRequest* request,
                                      v1::SubmitJobResponse* response) override;
  grpc::ServerUnaryReactor* CheckJob(grpc::CallbackServerContext* context,
                                     const v1::SubmitJobRequest* request,
                                     v1::SubmitJobResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerWriteReactor<v1::JobUpdate>* WatchJob(grpc::CallbackServerContext* context,
                                                    const v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* GetTrajectory(grpc::CallbackServerContext* context,
                                          const v1::GetTrajectoryRequest* request,
                                          v1::GetTrajectoryResponse* response) override;
  grpc::ServerWriteReactor<v1::ArtifactChunk>* GetArtifact(
      grpc::CallbackServerContext* context, const v1::GetArtifactRequest* request) override;
  // Ends every open WatchJob stream with UNAVAILABLE, so that watchers reconnect and resume
  // from their cursor, and refuses new ones. Call before grpc::Server::Shutdown.
  void EndStreams();
  // WatchJob streams open now.
  int OpenStreams();

  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::CancelJobResponse* response) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* context,
                                      const v1::DeleteJobRequest* request,
                                      v1::DeleteJobResponse* response) override;
  grpc::ServerUnaryReactor* UpdateJobNotes(grpc::CallbackServerContext* context,
                                           const v1::UpdateJobNotesRequest* request,
                                           v1::Job* response) override;
  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const v1::WhoAmIRequest* request,
                                   v1::WhoAmIResponse* response) override;
  grpc::ServerUnaryReactor* GetClassView(grpc::CallbackServerContext* context,
                                         const v1::GetClassViewRequest* request,
                                         v1::ClassView* response) override;

 private:
  friend class WatchReactor;

  service::AblationService& service_;
  service::ThreadPool& pool_;
  absl::Mutex streams_mutex_;
  bool ending_ ABSL_GUARDED_BY(streams_mutex_) = false;
  std::set<WatchReactor*> streams_ ABSL_GUARDED_BY(streams_mutex_);  // open WatchJob streams
  const std::unique_ptr<StalledWrites> stalled_downloads_;
};

}  // namespace ablate::rpc

#endif  // ABLATE_SERVER_RPC_GRPC_SERVICE_H_
