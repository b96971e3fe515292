// The CLI's connection to an Ablate server: one channel, one stub, and the rule that every
// unary call carries a deadline.
//
// Unary calls wait at most `timeout` and fail fast when nothing listens (they do not wait for
// the server to appear). Their errors come back already worded for people (rpc_errors.h),
// with the gRPC code kept. Streams (WatchJob) carry no deadline; the channel's keepalive pings
// notice a server that vanished without closing the connection.
//
// Thread-compatible: one thread uses a Connection at a time.
#ifndef ABLATE_CLIENT_CONNECTION_H_
#define ABLATE_CLIENT_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "ablate/v1/ablate.grpc.pb.h"
#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/rpc_errors.h"

namespace ablate::client {

struct ConnectionOptions {
  // "host:port" of the server's gRPC endpoint.
  std::string server = "127.0.0.1:50051";
  // Deadline of each unary call; an artifact download waits this long for each chunk.
  absl::Duration timeout = absl::Seconds(10);
  // TLS, for a server started with --tls-cert. `tls_root_certs` holds the PEM certificates
  // that sign the server's (e.g. its self-signed one); empty trusts the system's roots.
  bool tls = false;
  std::string tls_root_certs;
  // The bearer token sent with every call (unary and streams); empty sends none.
  std::string token;
};

// The channel the CLI uses: plaintext (the server listens on localhost or a lab network) or,
// with options.tls, TLS; keepalive pings every 30 s on open calls (a peer silent for 10 s more
// is dead), and reconnection backoff from 0.1 s to 0.4 s so a restarted server is found again
// quickly.
std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options);

// The PEM certificates of --tls-ca FILE; InvalidArgument naming the flag and the file when it
// cannot be read or holds no certificate.
absl::StatusOr<std::string> ReadTlsRootCerts(const std::string& path);

class Connection {
 public:
  explicit Connection(ConnectionOptions options);
  // For tests: any channel or stub, e.g. one to an in-process server.
  Connection(ConnectionOptions options, std::unique_ptr<v1::Ablation::StubInterface> stub);

  absl::StatusOr<v1::Job> SubmitJob(const v1::SubmitJobRequest& request);
  // The job SubmitJob would make (id 0), or the error it would give; nothing is stored.
  absl::StatusOr<v1::Job> CheckJob(const v1::SubmitJobRequest& request);
  absl::StatusOr<v1::Job> GetJob(int64_t job_id);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::Job> CancelJob(int64_t job_id);
  absl::StatusOr<v1::GetTrajectoryResponse> GetTrajectory(const v1::GetTrajectoryRequest& request);
  absl::Status DeleteJob(int64_t job_id);
  absl::StatusOr<v1::Job> UpdateJobNotes(const v1::UpdateJobNotesRequest& request);
  absl::StatusOr<v1::WhoAmIResponse> WhoAmI();
  absl::StatusOr<v1::ClassView> GetClassView(const v1::GetClassViewRequest& request);

  // Adds the token, if any, to a call's metadata ("authorization: Bearer <token>"). Every
  // context this class makes has it; a stream's context made elsewhere must call this.
  void Authorize(grpc::ClientContext& context) const;

  // A context for one unary call: deadline `timeout` from now, failing fast when the server
  // is unreachable.
  std::unique_ptr<grpc::ClientContext> UnaryContext() const;

  // The stub, for the streaming calls.
  v1::Ablation::StubInterface& stub() { return *stub_; }
  // The channel, for calls to the server's other services (the health check); null when the
  // Connection was made from a stub.
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // For error wording: the address and the unary timeout.
  const CallSite& site() const { return site_; }
  // `status` worded for people (see rpc_errors.h), the code kept.
  absl::Status Describe(const grpc::Status& status) const { return ToAbslStatus(status, site_); }

 private:
  CallSite site_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ablation::StubInterface> stub_;
};

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_CONNECTION_H_
