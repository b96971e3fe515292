#include "server/http/gateway.h"

#include <sys/socket.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/auth/token.h"
#include "server/http/event_stream.h"
#include "server/http/mapping.h"
#include "server/jobs/text.h"
#include "server/metrics/metrics.h"
#include "spdlog/spdlog.h"
// Last: its <resolv.h> defines the macro `_res`, which breaks headers (Eigen's) included after it.
#include "httplib.h"

#ifndef ABLATE_WEB_DIR
#define ABLATE_WEB_DIR ""
#endif

namespace ablate::http {

namespace {

constexpr char kJson[] = "application/json";

// The page loads only its own files and talks only to this server; the README it renders is
// escaped as well, so this is the second line of defence, not the first.
constexpr char kPagePolicy[] =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

void SendError(httplib::Response& res, const absl::Status& status) {
  res.status = HttpStatusFor(status.code());
  res.set_content(ErrorJson(status), kJson);
}

void SendMessage(httplib::Response& res, const google::protobuf::Message& message) {
  res.status = 200;
  res.set_content(MessageToJson(message), kJson);
}

template <typename T>
void Reply(httplib::Response& res, const absl::StatusOr<T>& result) {
  if (!result.ok()) return SendError(res, result.status());
  SendMessage(res, *result);
}

// A POST must say that its body is JSON (415 otherwise). Besides being honest, this keeps other
// web sites from submitting or cancelling jobs through a visitor's browser: a cross-site form
// cannot send application/json, and a script would need a CORS preflight this server never
// grants. Returns false after writing the refusal.
bool RequireJson(const httplib::Request& req, httplib::Response& res) {
  std::string type = req.get_header_value("Content-Type");
  type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(type.substr(0, type.find(';'))));
  if (type == kJson) return true;
  SendError(res, absl::InvalidArgumentError(
                     "POST bodies must be JSON, sent with Content-Type: application/json."));
  res.status = 415;
  return false;
}

// A path segment as an id: the API's ids are positive.
absl::StatusOr<int64_t> ParseId(const std::string& text, std::string_view what) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " must be a positive integer (got \"", text, "\")."));
  }
  return id;
}

// Connections waiting to be accepted. httplib listens with a backlog of 5 (compiled into
// Debian's library), so a browser opening its 6 connections at once, or a classroom, overflows
// it and the client retries its SYN a second later. Linux lets listen() be called again on a
// listening socket to raise the backlog; httplib keeps the socket in a protected member.
constexpr int kListenBacklog = 512;

// Base: httplib::Server or httplib::SSLServer.
template <typename Base>
class Server final : public Base {
 public:
  using Base::Base;
  bool RaiseBacklog(int backlog) { return ::listen(this->svr_sock_, backlog) == 0; }
};

bool RaiseBacklog(httplib::Server& server, bool tls, int backlog) {
  return tls ? static_cast<Server<httplib::SSLServer>&>(server).RaiseBacklog(backlog)
             : static_cast<Server<httplib::Server>&>(server).RaiseBacklog(backlog);
}

std::unique_ptr<httplib::Server> MakeServer(const GatewayOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    return std::make_unique<Server<httplib::Server>>();
  }
  // Loads both files now; is_valid() tells whether they made a usable pair.
  return std::make_unique<Server<httplib::SSLServer>>(options.tls_cert_file.c_str(),
                                                      options.tls_key_file.c_str());
}

// Accept-Encoding without "br". Debian's httplib prefers Brotli whenever a client accepts it
// (every browser does) and compresses at Brotli's maximum quality: measured here, 25 ms for a
// 16 KB trajectory and 250 ms for uPlot's 145 KB script, against 3 ms with gzip for about the
// same size. Without "br" it falls back to gzip.
std::string WithoutBrotli(const std::string& accept_encoding) {
  std::vector<std::string> kept;
  for (absl::string_view coding : absl::StrSplit(accept_encoding, ',')) {
    const absl::string_view name = absl::StripAsciiWhitespace(coding.substr(0, coding.find(';')));
    if (!absl::EqualsIgnoreCase(name, "br")) kept.emplace_back(absl::StripAsciiWhitespace(coding));
  }
  return absl::StrJoin(kept, ", ");
}

// The session cookie: the page's token, for the requests that cannot carry a header
// (EventSource, <a href> downloads). HttpOnly keeps it from scripts; SameSite=Strict keeps
// other sites' pages from sending it.
constexpr char kSessionCookie[] = "ablate_token";
constexpr int kSessionMaxAgeSeconds = 30 * 24 * 3600;

// The request's bearer token: the Authorization header's, else the session cookie's; empty
// when it has neither.
std::string TokenOf(const httplib::Request& req) {
  if (req.has_header("Authorization")) {
    return std::string(auth::BearerToken(req.get_header_value("Authorization")));
  }
  for (size_t i = 0, n = req.get_header_value_count("Cookie"); i < n; ++i) {
    for (absl::string_view pair : absl::StrSplit(req.get_header_value("Cookie", i), ';')) {
      pair = absl::StripAsciiWhitespace(pair);
      const size_t eq = pair.find('=');
      if (eq != absl::string_view::npos && pair.substr(0, eq) == kSessionCookie) {
        return std::string(pair.substr(eq + 1));
      }
    }
  }
  return "";
}

// Text from a client, fit for a log line: escaped (no newline or control character can forge
// a line) and cut to a length a person reads.
std::string ForLog(std::string_view text) {
  constexpr size_t kMax = 200;
  std::string out = jobs::EscapeForLog(text.substr(0, kMax));
  if (text.size() > kMax) out += "...";
  return out;
}

// A file name safe to put in a quoted header value.
std::string AttachmentName(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool safe =
        absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
    out += safe ? c : '_';
  }
  return out.empty() ? "download" : out;
}

}  // namespace

std::string DefaultWebDir() { return ABLATE_WEB_DIR; }

HttpGateway::HttpGateway(service::AblationService& service, GatewayOptions options)
    : service_(service), options_(std::move(options)), server_(MakeServer(options_)) {
  Route();
}

HttpGateway::~HttpGateway() { Stop(); }

void HttpGateway::Route() {
  httplib::Server& s = *server_;
  const int threads = options_.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_keep_alive_timeout(options_.keep_alive_seconds);
  s.set_keep_alive_max_count(1000);
  // httplib writes a response's headers and body separately: with Nagle's algorithm the body
  // waits for the client's delayed ACK (40 ms on Linux) on every reused connection.
  s.set_tcp_nodelay(true);
  s.set_payload_max_length(options_.max_body_bytes);
  s.set_default_headers({{"X-Content-Type-Options", "nosniff"}});

  // httplib hands handlers a const Request; the object itself is httplib's own, mutable, and
  // read for the response's encoding only after routing.
  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    if (req.has_header("Accept-Encoding")) {
      auto& headers = const_cast<httplib::Request&>(req).headers;
      const std::string accepted = WithoutBrotli(req.get_header_value("Accept-Encoding"));
      headers.erase("Accept-Encoding");
      headers.emplace("Accept-Encoding", accepted);
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", kJson);
  });

  // Who am I: the session's (or the Authorization header's) user, or that no token is needed.
  s.Get("/api/v1/session", [this](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(req));
    if (!caller.ok()) return SendError(res, caller.status());
    SendMessage(res, service::AblationService::WhoAmI(*caller));
  });

  // Signing in: the token comes in the Authorization header (never in a URL, which ends up in
  // logs and histories) and goes back as the session cookie once it is valid. Another site
  // cannot do this for a visitor: it cannot set the header without a CORS preflight.
  s.Post("/api/v1/session", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string token(auth::BearerToken(req.get_header_value("Authorization")));
    absl::StatusOr<auth::Caller> caller = service_.Authenticate(token);
    if (!caller.ok()) return SendError(res, caller.status());
    if (caller->has_value()) {
      std::string cookie =
          absl::StrCat(kSessionCookie, "=", token, "; Max-Age=", kSessionMaxAgeSeconds,
                       "; Path=/; HttpOnly; SameSite=Strict");
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
      if (req.ssl != nullptr) cookie += "; Secure";
#endif
      res.set_header("Set-Cookie", cookie);
    }
    SendMessage(res, service::AblationService::WhoAmI(*caller));
  });

  s.Delete("/api/v1/session", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Set-Cookie",
                   absl::StrCat(kSessionCookie, "=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"));
    res.set_content("{}", kJson);
  });
  if (options_.metrics) {
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(options_.metrics(), metrics::kContentType);
    });
  }

  s.Post("/api/v1/jobs", [this](const httplib::Request& req, httplib::Response& res) {
    if (!RequireJson(req, res)) return;
    absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(req));
    if (!caller.ok()) return SendError(res, caller.status());
    v1::SubmitJobRequest request;
    if (absl::Status s = JsonToMessage(req.body, request); !s.ok()) return SendError(res, s);
    absl::StatusOr<v1::Job> job = service_.SubmitJob(*caller, request);
    if (!job.ok()) return SendError(res, job.status());
    v1::SubmitJobResponse response;
    *response.mutable_job() = *std::move(job);
    SendMessage(res, response);
  });

  s.Get("/api/v1/jobs", [this](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(req));
    if (!caller.ok()) return SendError(res, caller.status());
    v1::ListJobsRequest request;
    if (absl::Status s = QueryToMessage(req.params, {}, request); !s.ok()) {
      return SendError(res, s);
    }
    Reply(res, service_.ListJobs(*caller, request));
  });

  s.Get(R"(/api/v1/jobs/([^/:]+))", [this](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(req));
    if (!caller.ok()) return SendError(res, caller.status());
    v1::GetJobRequest request;
    if (absl::Status s = QueryToMessage(req.params, {"job_id"}, request); !s.ok()) {
      return SendError(res, s);
    }
    absl::StatusOr<int64_t> id = ParseId(req.matches[1], "the job id");
    if (!id.ok()) return SendError(res, id.status());
    request.set_job_id(*id);
    Reply(res, service_.GetJob(*caller, request));
  });

  s.Delete(R"(/api/v1/jobs/([^/:]+))", [this](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(req));
    if (!caller.ok()) return SendError(res, caller.status());
    absl::StatusOr<int64_t> id = ParseId(req.matches[1], "the job id");
    if (!id.ok()) return SendError(res, id.status());
    v1::DeleteJobRequest request;
    request.set_job_id(*id);
    Reply(res, service_.DeleteJob(*caller, request));
  });

  // Google's custom-method style (":cancel") and the plainer "/cancel".
  s.Post(R"(/api/v1/jobs/([^/:]+)(?::|/)cancel)",
         [this](const httplib::Request& req, httplib::Response& res) {
           if (!RequireJson(req, res)) return;
           absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(req));
           if (!caller.ok()) return SendError(res, caller.status());
           absl::StatusOr<int64_t> id = ParseId(req.matches[1], "the job id");
           if (!id.ok()) return SendError(res, id.status());
           v1::CancelJobRequest request;
           if (absl::Status s = JsonToMessage(req.body, request); !s.ok()) {
             return SendError(res, s);
           }
           request.set_job_id(*id);
           absl::StatusOr<v1::Job> job = service_.CancelJob(*caller, request);
           if (!job.ok()) return SendError(res, job.status());
           v1::CancelJobResponse response;
           *response.mutable_job() = *std::move(job);
           SendMessage(res, response);
         });

  s.Get(R"(/api/v1/jobs/([^/:]+)/events)",
        [this](const httplib::Request& req, httplib::Response& res) {
          absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(req));
          if (!caller.ok()) return SendError(res, caller.status());
          absl::StatusOr<int64_t> id = ParseId(req.matches[1], "the job id");
          if (!id.ok()) return SendError(res, id.status());
          v1::WatchJobRequest request;
          if (absl::Status s = QueryToMessage(req.params, {"job_id"}, request); !s.ok()) {
            return SendError(res, s);
          }
          request.set_job_id(*id);
          if (req.has_header("Last-Event-ID")) {
            const std::string last = req.get_header_value("Last-Event-ID");
            uint64_t cursor = 0;
            if (!absl::SimpleAtoi(last, &cursor)) {
              return SendError(res, absl::InvalidArgumentError(absl::StrCat(
                                        "the Last-Event-ID header must be a cursor from this "
                                        "stream, a non-negative integer (got \"",
                                        last, "\").")));
            }
            request.set_cursor(cursor);
          }
          if (open_streams_.fetch_add(1) >= options_.max_streams) {
            open_streams_.fetch_sub(1);
            res.set_header("Retry-After", "5");
            return SendError(res, absl::UnavailableError(absl::StrCat(
                                      "the server is already streaming to ", options_.max_streams,
                                      " clients; try again shortly.")));
          }
          absl::StatusOr<std::unique_ptr<service::JobWatch>> watch =
              service_.WatchJob(*caller, request);
          if (!watch.ok()) {
            open_streams_.fetch_sub(1);
            return SendError(res, watch.status());
          }
          auto stream = std::make_shared<EventStream>(*std::move(watch), open_streams_);
          res.set_header("Cache-Control", "no-cache");
          res.set_header("X-Accel-Buffering", "no");  // tells a reverse proxy not to buffer
          res.set_chunked_content_provider("text/event-stream",
                                           [stream](size_t /*offset*/, httplib::DataSink& sink) {
                                             return stream->Provide(sink);
                                           });
        });

  s.Get(R"(/api/v1/jobs/([^/:]+)/artifacts/([^/]+))",
        [this](const httplib::Request& req, httplib::Response& res) {
          absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(req));
          if (!caller.ok()) return SendError(res, caller.status());
          absl::StatusOr<int64_t> id = ParseId(req.matches[1], "the job id");
          if (!id.ok()) return SendError(res, id.status());
          v1::GetArtifactRequest request;
          if (absl::Status s = QueryToMessage(req.params, {"job_id", "name"}, request); !s.ok()) {
            return SendError(res, s);
          }
          request.set_job_id(*id);
          request.set_name(req.matches[2]);
          absl::StatusOr<store::Artifact> artifact = service_.GetArtifact(*caller, request);
          if (!artifact.ok()) return SendError(res, artifact.status());
          const std::string etag = absl::StrCat("\"", artifact->sha256, "\"");
          res.set_header("ETag", etag);
          res.set_header("Cache-Control", "no-cache");  // revalidate: cheap, thanks to the ETag
          res.set_header("Content-Disposition", absl::StrCat("attachment; filename=\"",
                                                             AttachmentName(artifact->name), "\""));
          if (req.get_header_value("If-None-Match") == etag) {
            res.status = 304;
            return;
          }
          res.set_content(artifact->data, artifact->content_type);
        });

  s.Get(R"(/api/v1/runs/([^/:]+)/trajectory)",
        [this](const httplib::Request& req, httplib::Response& res) {
          absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(req));
          if (!caller.ok()) return SendError(res, caller.status());
          absl::StatusOr<int64_t> id = ParseId(req.matches[1], "the run id");
          if (!id.ok()) return SendError(res, id.status());
          v1::GetTrajectoryRequest request;
          if (absl::Status s = QueryToMessage(req.params, {"run_id"}, request); !s.ok()) {
            return SendError(res, s);
          }
          request.set_run_id(*id);
          Reply(res, service_.GetTrajectory(*caller, request));
        });

  // Everything unmatched (an unknown path, or a known one with the wrong method) and httplib's
  // own refusals (a body over the limit) get a sentence; a handler's error keeps its body.
  s.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                  httplib::Response& res) {
    if (!res.body.empty() || res.status == 304) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    absl::StatusCode code = absl::StatusCode::kNotFound;
    if (res.status == 404) {
      message = absl::StrCat("no such resource: ", req.method, " ", ForLog(req.path), ".");
    } else if (res.status == 413) {
      code = absl::StatusCode::kResourceExhausted;
      message = absl::StrCat("the request body is larger than the limit of ",
                             options_.max_body_bytes, " bytes.");
    } else {
      code = res.status >= 500 ? absl::StatusCode::kInternal : absl::StatusCode::kInvalidArgument;
      message = absl::StrCat("the request could not be served (HTTP ", res.status, ").");
    }
    res.set_content(ErrorJson(absl::Status(code, message)), kJson);
    return httplib::Server::HandlerResponse::Handled;
  }));

  // The service returns statuses; this catches what a library might throw (bad_alloc).
  s.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("HTTP {} {} failed: {}", ForLog(req.method), ForLog(req.path), what);
        SendError(res, absl::InternalError("the server failed to answer this request."));
      });

  s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("HTTP {} {} -> {}", ForLog(req.method), ForLog(req.target), res.status);
  });
}

absl::StatusOr<int> HttpGateway::Start(const std::string& host, int port) {
  const bool tls = !options_.tls_cert_file.empty() || !options_.tls_key_file.empty();
  if (!server_->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot serve HTTPS with the certificate ", options_.tls_cert_file, " and the key ",
        options_.tls_key_file, " (both must be readable PEM files, and the key the certificate's)."));
  }
  if (!options_.web_dir.empty()) {
    std::error_code error;
    if (!std::filesystem::is_directory(options_.web_dir, error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the web directory ", options_.web_dir, " does not exist."));
    }
    server_->set_mount_point(
        "/", options_.web_dir,
        {{"Cache-Control", "no-cache"}, {"Content-Security-Policy", kPagePolicy}});
  }
  int bound = -1;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
  } else if (server_->bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port,
                     " for HTTP (is the address valid and the port free?)"));
  }
  if (!RaiseBacklog(*server_, tls, kListenBacklog)) {
    spdlog::warn("HTTP: cannot raise the listen backlog to {}; bursts of connections may wait",
                 kListenBacklog);
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so Stop must not be able to come first.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return bound;
}

void HttpGateway::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace ablate::http
