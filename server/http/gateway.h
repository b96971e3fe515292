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
//   HEAD on every GET route: GET's status and headers without the body (on .../events, the
//        stream's head; no stream is opened)
//
// POST bodies must be sent as Content-Type: application/json (415 otherwise; see gateway.cc).
// Authentication: every /api/v1 call carries the token as "Authorization: Bearer <token>" or
// the session cookie (the header wins); a server with users answers 401 without a valid one
// (with WWW-Authenticate: Bearer realm="ablate") and 403 for what the caller may not do
// (service.h has the rules).
// Errors: the service's absl::Status as HTTP status (HttpStatusFor) and the body
// {"error": {"code", "message"}}; unknown paths 404, a method a known path does not take 405
// (code UNIMPLEMENTED) with Allow listing those it does; bodies that are not the message's JSON, or
// that nest deeper than max_json_depth, 400 naming the problem; more than max_streams live
// streams 503 with Retry-After, more than the service's stream caps (stream_limits.h: all
// streams, per user) 429 with Retry-After; a cursor past the job's last event 400; the
// transport's limits (http_server.h) 408, 413, 431 and 429.
//
// Threads: the server's few I/O threads parse, route and write; every handler that calls the
// service (which may read SQLite) runs on the service's thread pool and posts its response
// back, so no I/O thread ever waits for the store.
#ifndef ABLATE_SERVER_HTTP_GATEWAY_H_
#define ABLATE_SERVER_HTTP_GATEWAY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/auth/principal.h"
#include "server/http/http_server.h"
#include "server/service/service.h"
#include "server/service/thread_pool.h"

namespace ablate::http {

class EventStream;
class StaticFiles;

// Where the build put the page (CMake's build dir/web): the default of --web-dir.
std::string DefaultWebDir();

// An open event stream, as EndStreams' predicate sees it.
struct StreamInfo {
  std::string user;  // the caller's name; empty on a server without users
  int64_t job_id = 0;
};

struct GatewayOptions {
  // The page's files; empty serves the API only. Must exist when not empty.
  std::string web_dir;
  // I/O threads (--http-threads). They only parse and write, so two serve thousands of
  // connections; the service work runs on the pool.
  int io_threads = 2;
  // The transport's bounds (--http-max-body-bytes and the rest).
  ServerLimits limits;
  // Event streams served at once (--http-max-streams); more get 503. An idle stream costs
  // memory only (a few KiB, README), and every watcher of a job is served from its one
  // in-memory tail (live_tail.h); the service's own caps (stream_limits.h) apply as well.
  int max_streams = 1000;
  // Deepest nesting of JSON arrays and objects in a request body (--http-max-json-depth),
  // checked before protobuf's parser, whose time grows faster than linearly with it.
  int max_json_depth = 32;
  // Host names (lower case, no port) the API answers while the server has no users, besides
  // IP addresses, localhost and names under .localhost (--http-allowed-hosts): a guard against
  // DNS rebinding (gateway.cc, RefuseForeignHost).
  std::vector<std::string> allowed_hosts;
  // HTTPS with this PEM certificate (chain) and private key; both empty serves plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The body of GET /metrics (metrics::Render), run on the pool; empty: /metrics is 404.
  std::function<std::string()> metrics;
};

// Start, then Stop (or destroy). Thread-safe after Start.
class HttpGateway {
 public:
  // Borrows the service and the pool that runs its calls, which must outlive the gateway.
  HttpGateway(service::AblationService& service, service::ThreadPool& pool, GatewayOptions options);
  // Calls Stop().
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  // Binds `host`:`port` (port 0 picks a free one) and serves on the I/O threads. Returns the
  // bound port; Unavailable naming the address when it cannot bind, InvalidArgument when
  // web_dir is not a directory or the TLS certificate and key cannot be loaded together.
  absl::StatusOr<int> Start(const std::string& host, int port);

  // Stops accepting, ends the open event streams and closes every connection, waits for the
  // requests in progress on the pool, and joins the I/O threads. Idempotent.
  void Stop();

  // Event streams open now.
  int OpenStreams() const ABSL_LOCKS_EXCLUDED(streams_mutex_);

  // Ends every open event stream for which `which` is true (a revoked token's, say); each ends
  // as if its client had closed it. Returns how many. Thread-safe.
  int EndStreams(const std::function<bool(const StreamInfo&)>& which)
      ABSL_LOCKS_EXCLUDED(streams_mutex_);

 private:
  struct Route;
  void Handle(Request request, Responder respond);
  // Runs `work` on the pool and replies with its response, compressed when the client allows;
  // a response with status 0 means that `work` answered with a stream.
  void Offload(Request request, Responder respond, std::function<Response(const Request&)> work);
  // Opens the event stream of `in` within the stream limits; the refusal otherwise. With
  // `head_only` (HEAD), answers as GET would at this moment, refusals included, and sends the
  // stream's head alone, holding nothing afterwards.
  Response Watch(bool head_only, const auth::Caller& caller, const std::string& token,
                 const v1::WatchJobRequest& in, const Responder& respond);
  void AddRoutes();
  // The methods that `path` takes (HEAD with GET), for a 405's Allow; empty when there is
  // nothing at `path`.
  std::vector<std::string> MethodsFor(const std::string& path) const;

  service::AblationService& service_;
  service::ThreadPool& pool_;
  const GatewayOptions options_;
  std::unique_ptr<StaticFiles> files_;
  std::unique_ptr<HttpServer> server_;
  std::vector<Route> routes_;

  mutable absl::Mutex streams_mutex_;
  uint64_t next_stream_ ABSL_GUARDED_BY(streams_mutex_) = 1;
  struct Open {
    std::weak_ptr<EventStream> stream{};  // empty while the watch starts
    StreamInfo info{};
    // EndStreams chose it while its watch was starting: it ends as soon as it has started.
    bool end_once_started = false;
  };
  std::map<uint64_t, Open> streams_ ABSL_GUARDED_BY(streams_mutex_);
};

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_GATEWAY_H_
