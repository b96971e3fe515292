// The HTTP front door: Ablate's web page and a JSON + Server-Sent Events API over HTTP/1.1,
// calling the same service layer as gRPC (never gRPC itself). Bodies are protobuf's JSON
// mapping of the ablate.v1 messages (mapping.h), so the two APIs cannot drift.
//
//   GET  /healthz                                   {"status": "ok"}
//   GET    /api/v1/session                          -> WhoAmIResponse (who the token is)
//   POST   /api/v1/session                          checks the Authorization header's token
//          and sets it as the HttpOnly session cookie "ablate_token" -> WhoAmIResponse
//   DELETE /api/v1/session                          clears the cookie (signing out)
//   GET  /metrics                                   Prometheus text format (metrics.h), when
//                                                   GatewayOptions::metrics is set
//   POST /api/v1/jobs                               SubmitJobRequest -> SubmitJobResponse
//   GET  /api/v1/jobs?owner=&states=&init=&name_contains=&created_after=&created_before=
//                    &page_size=&page_token=        ListJobsRequest  -> ListJobsResponse
//   GET  /api/v1/jobs/{job_id}                      -> Job
//   DELETE /api/v1/jobs/{job_id}                    DeleteJob -> DeleteJobResponse
//   POST /api/v1/jobs/{job_id}:cancel  (or /cancel) -> CancelJobResponse
//   GET  /api/v1/jobs/{job_id}/events?cursor=       WatchJob as text/event-stream
//        (event_stream.h); the Last-Event-ID header, sent by a reconnecting browser, takes
//        precedence over ?cursor=
//   GET  /api/v1/jobs/{job_id}/artifacts/{name}     the file, with its Content-Type, an
//        attachment Content-Disposition naming it, and ETag = its SHA-256
//   GET  /api/v1/runs/{run_id}/trajectory?max_points=   -> GetTrajectoryResponse
//   GET  /...                                       the page's static files (web_dir)
//
// POST bodies must be sent as Content-Type: application/json (415 otherwise; see gateway.cc).
// Authentication: every /api/v1 call carries the token as "Authorization: Bearer <token>" or
// the session cookie (the header wins); a server with users answers 401 without a valid one
// and 403 for what the caller may not do (service.h has the rules).
// Errors: the service's absl::Status as HTTP status (HttpStatusFor) and the body
// {"error": {"code", "message"}}; unknown paths 404, bodies that are not the message's JSON
// 400 naming the problem, more than max_streams live streams 503 with Retry-After.
#ifndef ABLATE_SERVER_HTTP_GATEWAY_H_
#define ABLATE_SERVER_HTTP_GATEWAY_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/service/service.h"

namespace httplib {
class Server;
}

namespace ablate::http {

// Where the build put the page (CMake's build dir/web): the default of --web-dir.
std::string DefaultWebDir();

struct GatewayOptions {
  // The page's files; empty serves the API only. Must exist when not empty.
  std::string web_dir;
  // Connection threads. Each open event stream holds one for its lifetime, and each idle
  // keep-alive connection one for up to keep_alive_seconds.
  int threads = 64;
  // Event streams served at once; more get 503 (leaves threads for the other requests).
  int max_streams = 48;
  int keep_alive_seconds = 5;
  // Largest request body accepted (a JobSpec is a few hundred bytes).
  size_t max_body_bytes = 1 << 20;
  // HTTPS with this PEM certificate (chain) and private key; both empty serves plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The body of GET /metrics (metrics::Render); empty: /metrics is 404.
  std::function<std::string()> metrics;
};

// Start, then Stop (or destroy). Thread-safe after Start.
class HttpGateway {
 public:
  // Borrows the service, which must outlive the gateway.
  HttpGateway(service::AblationService& service, GatewayOptions options);
  // Calls Stop().
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  // Binds `host`:`port` (port 0 picks a free one) and serves on a thread of its own. Returns
  // the bound port; Unavailable naming the address when it cannot bind, InvalidArgument when
  // web_dir is not a directory or the TLS certificate and key cannot be loaded together.
  absl::StatusOr<int> Start(const std::string& host, int port);

  // Stops accepting, ends the open event streams (within EventStream::kPoll) and waits for
  // the requests in progress. Idempotent.
  void Stop();

  // Event streams open now.
  int OpenStreams() const { return open_streams_.load(); }

 private:
  void Route();

  service::AblationService& service_;
  const GatewayOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<int> open_streams_{0};
};

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_GATEWAY_H_
