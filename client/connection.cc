#include "client/connection.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ablate::client {
namespace {

// Keepalive on open calls only. A server that was killed closes its sockets and the stream
// fails at once; these pings are for a server whose host vanished or hung. Servers allow
// pings without data every 5 minutes by default, more often only if they opt in
// (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS); a server that objects closes the
// connection, and `watch` resumes from its cursor, so nothing is lost either way.
constexpr int kKeepaliveTimeMs = 30'000;
constexpr int kKeepaliveTimeoutMs = 10'000;
// Reconnect quickly after a server restart (gRPC's default starts at 1 s and grows to 120 s).
// The channel does not try to connect again before its backoff has passed, whatever the watch
// asks, so its steps are the watch's (WatchOptions): a restarted server is found within about
// 0.4 s, and an attempt on a server still down costs one refused connection.
constexpr int kInitialReconnectBackoffMs = 100;
constexpr int kMaxReconnectBackoffMs = 400;

}  // namespace

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // A watch stream sends no data after its request; without this, gRPC stops pinging after
  // two pings and a vanished server would go unnoticed.
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_certs;  // empty: gRPC's default roots
    credentials = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(options.server, credentials, args);
}

absl::StatusOr<std::string> ReadTlsRootCerts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-ca: cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-ca: ", path, " holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
  }
  return text.str();
}

Connection::Connection(ConnectionOptions options) : Connection(options, nullptr) {
  channel_ = MakeChannel(options);
  stub_ = v1::Ablation::NewStub(channel_);
}

Connection::Connection(ConnectionOptions options, std::unique_ptr<v1::Ablation::StubInterface> stub)
    : site_{std::move(options.server), options.timeout, options.tls, !options.token.empty()},
      token_(std::move(options.token)),
      stub_(std::move(stub)) {}

void Connection::Authorize(grpc::ClientContext& context) const {
  if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
}

std::unique_ptr<grpc::ClientContext> Connection::UnaryContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + site_.timeout));
  context->set_wait_for_ready(false);
  Authorize(*context);
  return context;
}

absl::StatusOr<v1::Job> Connection::SubmitJob(const v1::SubmitJobRequest& request) {
  v1::SubmitJobResponse response;
  auto context = UnaryContext();
  grpc::Status status = stub_->SubmitJob(context.get(), request, &response);
  if (!status.ok()) return Describe(status);
  return std::move(*response.mutable_job());
}

absl::StatusOr<v1::Job> Connection::CheckJob(const v1::SubmitJobRequest& request) {
  v1::SubmitJobResponse response;
  auto context = UnaryContext();
  grpc::Status status = stub_->CheckJob(context.get(), request, &response);
  if (!status.ok()) return Describe(status);
  return std::move(*response.mutable_job());
}

absl::StatusOr<v1::Job> Connection::GetJob(int64_t job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  auto context = UnaryContext();
  grpc::Status status = stub_->GetJob(context.get(), request, &job);
  if (!status.ok()) return Describe(status);
  return job;
}

absl::StatusOr<v1::ListJobsResponse> Connection::ListJobs(const v1::ListJobsRequest& request) {
  v1::ListJobsResponse response;
  auto context = UnaryContext();
  grpc::Status status = stub_->ListJobs(context.get(), request, &response);
  if (!status.ok()) return Describe(status);
  return response;
}

absl::StatusOr<v1::Job> Connection::CancelJob(int64_t job_id) {
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::CancelJobResponse response;
  auto context = UnaryContext();
  grpc::Status status = stub_->CancelJob(context.get(), request, &response);
  if (!status.ok()) return Describe(status);
  return std::move(*response.mutable_job());
}

absl::StatusOr<v1::GetTrajectoryResponse> Connection::GetTrajectory(
    const v1::GetTrajectoryRequest& request) {
  v1::GetTrajectoryResponse response;
  auto context = UnaryContext();
  grpc::Status status = stub_->GetTrajectory(context.get(), request, &response);
  if (!status.ok()) return Describe(status);
  return response;
}

absl::StatusOr<v1::ClassView> Connection::GetClassView(const v1::GetClassViewRequest& request) {
  v1::ClassView response;
  auto context = UnaryContext();
  grpc::Status status = stub_->GetClassView(context.get(), request, &response);
  if (!status.ok()) return Describe(status);
  return response;
}

absl::StatusOr<v1::Job> Connection::UpdateJobNotes(const v1::UpdateJobNotesRequest& request) {
  v1::Job response;
  auto context = UnaryContext();
  grpc::Status status = stub_->UpdateJobNotes(context.get(), request, &response);
  if (!status.ok()) return Describe(status);
  return response;
}

absl::Status Connection::DeleteJob(int64_t job_id) {
  v1::DeleteJobRequest request;
  request.set_job_id(job_id);
  v1::DeleteJobResponse response;
  auto context = UnaryContext();
  grpc::Status status = stub_->DeleteJob(context.get(), request, &response);
  if (!status.ok()) return Describe(status);
  return absl::OkStatus();
}

absl::StatusOr<v1::WhoAmIResponse> Connection::WhoAmI() {
  v1::WhoAmIResponse response;
  auto context = UnaryContext();
  grpc::Status status = stub_->WhoAmI(context.get(), v1::WhoAmIRequest(), &response);
  if (!status.ok()) return Describe(status);
  return response;
}

}  // namespace ablate::client
