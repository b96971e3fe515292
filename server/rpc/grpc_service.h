// The gRPC front door: ablate.v1.Ablation on gRPC's callback API, translating each call to
// the service layer and each absl::Status to a grpc::Status. Every call is authenticated by
// the bearer token in its "authorization" metadata ("Bearer <token>"), if any.
#ifndef ABLATE_SERVER_RPC_GRPC_SERVICE_H_
#define ABLATE_SERVER_RPC_GRPC_SERVICE_H_

#include <set>

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

class GrpcService final : public v1::Ablation::CallbackService {
 public:
  // Borrows the service and a pool for the unary calls' work (store reads and writes, and
  // CancelJob's wait), so that no reaction blocks a gRPC thread. Both must outlive every call.
  GrpcService(service::AblationService& service, service::ThreadPool& pool)
      : service_(service), pool_(pool) {}

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
};

}  // namespace ablate::rpc

#endif  // ABLATE_SERVER_RPC_GRPC_SERVICE_H_
