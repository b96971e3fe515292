#include "server/http/gateway.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <regex>
#include <set>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/auth/loopback.h"
#include "server/auth/token.h"
#include "server/http/compress.h"
#include "server/http/event_stream.h"
#include "server/http/mapping.h"
#include "server/http/static_files.h"
#include "server/jobs/text.h"
#include "server/metrics/metrics.h"
#include "spdlog/spdlog.h"

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

// The session cookie: the page's token, for the requests that cannot carry a header
// (EventSource, <a href> downloads). HttpOnly keeps it from scripts; SameSite=Strict keeps
// other sites' pages from sending it.
constexpr char kSessionCookie[] = "ablate_token";
constexpr int kSessionMaxAgeSeconds = 30 * 24 * 3600;

// Every response says what it is; browsers must not guess.
Response WithDefaults(Response response) {
  if (response.Header("X-Content-Type-Options").empty()) {
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  }
  return response;
}

Response Error(const absl::Status& status) {
  return Response{
      .status = HttpStatusFor(status.code()), .content_type = kJson, .body = ErrorJson(status)};
}

Response Message(const google::protobuf::Message& message) {
  return Response{.status = 200, .content_type = kJson, .body = MessageToJson(message)};
}

template <typename T>
Response Reply(const absl::StatusOr<T>& result) {
  if (!result.ok()) return Error(result.status());
  return Message(*result);
}

// A POST must say that its body is JSON (415 otherwise). Besides being honest, this keeps other
// web sites from submitting or cancelling jobs through a visitor's browser: a cross-site form
// cannot send application/json, and a script would need a CORS preflight this server never
// grants.
std::optional<Response> RequireJson(const Request& request) {
  std::string type = request.Header("Content-Type");
  type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(type.substr(0, type.find(';'))));
  if (type == kJson) return std::nullopt;
  Response refusal = Error(absl::InvalidArgumentError(
      "POST bodies must be JSON, sent with Content-Type: application/json."));
  refusal.status = 415;
  return refusal;
}

// A path segment as an id: the API's ids are positive.
absl::StatusOr<int64_t> ParseId(const std::string& text, std::string_view what) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what),
                                                   " must be a positive integer (got \"",
                                                   jobs::EscapeForLog(text.substr(0, 40)), "\")."));
  }
  return id;
}

// The request's bearer token: the Authorization header's, else the session cookie's; empty
// when it has neither.
std::string TokenOf(const Request& request) {
  if (request.HasHeader("Authorization")) {
    return std::string(auth::BearerToken(request.Header("Authorization")));
  }
  for (const std::string& cookies : request.HeaderValues("Cookie")) {
    for (absl::string_view pair : absl::StrSplit(cookies, ';')) {
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

// A 401 says how to authenticate (RFC 9110 §11.6.1): with a bearer token (RFC 6750), which the
// API takes in the Authorization header or, from the page, in the session cookie. A request
// that carried a token is told that it is not valid; one without gets no error code (RFC 6750
// §3.1). Bearer, not Basic: a browser shows its own sign-in dialog for Basic only.
void Challenge(const Request& request, Response& response) {
  response.SetHeader("WWW-Authenticate", TokenOf(request).empty()
                                             ? R"(Bearer realm="ablate")"
                                             : R"(Bearer realm="ablate", error="invalid_token")");
}

// Without users anyone who reaches the port may do anything, which is safe only while that is
// this machine's user alone. But a page of another site can reach a loopback port from that
// user's browser by DNS rebinding: its name is made to resolve to 127.0.0.1, and its script's
// requests then name it in Host. So while authentication is off, the API answers only requests
// addressed to an IP address, to localhost or a name under .localhost (which browsers resolve
// to loopback themselves), or to a name the operator allowed (--http-allowed-hosts). A request
// without Host (HTTP/1.0) comes from no browser.
std::optional<Response> RefuseForeignHost(const Request& request,
                                          const std::vector<std::string>& allowed) {
  if (!request.HasHeader("Host")) return std::nullopt;
  // Lower case, without the port or a final dot (localhost. is localhost).
  std::string host = absl::AsciiStrToLower(
      auth::HostOf(std::string(absl::StripAsciiWhitespace(request.Header("Host")))));
  if (absl::EndsWith(host, ".")) host.pop_back();
  if (host.empty() || auth::IsIpLiteral(host) || auth::IsLoopbackHost(host) ||
      absl::EndsWith(host, ".localhost") ||
      std::find(allowed.begin(), allowed.end(), host) != allowed.end()) {
    return std::nullopt;
  }
  return Error(absl::PermissionDeniedError(absl::StrCat(
      "this server has no users, so its API answers only requests addressed to it by IP address "
      "or as localhost; this one was addressed to \"",
      ForLog(request.Header("Host")),
      "\", as a page of another site would address it to reach this machine. To use that name, "
      "give it to the server with --http-allowed-hosts, or create users (README, \"Sharing with "
      "a class\").")));
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

Response NotFound(const Request& request) {
  return Error(absl::NotFoundError(
      absl::StrCat("no such resource: ", ForLog(request.method), " ", ForLog(request.path), ".")));
}

// The status and headers of an event stream.
Response EventStreamHead() {
  Response head{.status = 200, .content_type = "text/event-stream"};
  head.SetHeader("Cache-Control", "no-cache");
  head.SetHeader("X-Accel-Buffering", "no");  // tells a reverse proxy not to buffer
  return WithDefaults(std::move(head));
}

// No route is longer than this, and std::regex recurses once per character it matches: a path
// of some 28,000 characters (possible with a raised --http-max-header-bytes) overflowed an I/O
// thread's stack. A longer path is not one of ours.
constexpr size_t kLongestRoutePath = 1024;

// The capture groups of a route's path pattern, [1] first.
using Captures = std::vector<std::string>;

// The one shape of an API call, which every route but the session's follows: authenticate the
// caller, fill the request message `In` (from the JSON body or the query, then the ids the path
// carries), call the service, and answer with what it returned (JSON, a file, or an event
// stream). Each step's failure is the answer. Runs on the pool.
template <typename In>
struct Call {
  bool from_body = false;            // a POST's JSON body; otherwise the URL's query
  std::set<std::string> reserved{};  // query keys the path sets
  // Sets the path's parts (ids, names) on the message; InvalidArgument names a bad one.
  std::function<absl::Status(const Captures&, In&)> from_path{};
};

// A `from_path` that sets capture 1 as an id with `set` (a protobuf setter), naming it `what`.
template <typename In>
std::function<absl::Status(const Captures&, In&)> IdAt1(const char* what,
                                                        void (In::*set)(int64_t)) {
  return [what, set](const Captures& captures, In& in) {
    absl::StatusOr<int64_t> id = ParseId(captures[1], what);
    if (!id.ok()) return id.status();
    (in.*set)(*id);
    return absl::OkStatus();
  };
}

}  // namespace

struct HttpGateway::Route {
  std::string method;
  std::regex path;
  // Runs on the pool.
  std::function<Response(const Request&, const Captures&, const Responder&)> handle;
};

std::string DefaultWebDir() { return ABLATE_WEB_DIR; }

HttpGateway::HttpGateway(service::AblationService& service, service::ThreadPool& pool,
                         GatewayOptions options)
    : service_(service), pool_(pool), options_(std::move(options)) {
  server_ = std::make_unique<HttpServer>(
      ServerOptions{.io_threads = options_.io_threads,
                    .limits = options_.limits,
                    .tls_cert_file = options_.tls_cert_file,
                    .tls_key_file = options_.tls_key_file},
      [this](Request request, Responder respond) { Handle(std::move(request), respond); },
      [](const absl::Status& status) { return ErrorJson(status); });
  AddRoutes();
}

HttpGateway::~HttpGateway() { Stop(); }

absl::StatusOr<int> HttpGateway::Start(const std::string& host, int port) {
  if (!options_.web_dir.empty()) {
    std::error_code error;
    if (!std::filesystem::is_directory(options_.web_dir, error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the web directory ", options_.web_dir, " does not exist."));
    }
    files_ = std::make_unique<StaticFiles>(
        options_.web_dir,
        Headers{{"Cache-Control", "no-cache"}, {"Content-Security-Policy", kPagePolicy}});
  }
  return server_->Start(host, port);
}

void HttpGateway::Stop() { server_->Stop(); }

int HttpGateway::OpenStreams() const {
  absl::MutexLock lock(&streams_mutex_);
  return static_cast<int>(streams_.size());
}

int HttpGateway::EndStreams(const std::function<bool(const StreamInfo&)>& which) {
  std::vector<std::shared_ptr<EventStream>> ending;
  {
    absl::MutexLock lock(&streams_mutex_);
    for (auto& [id, open] : streams_) {
      if (!which(open.info)) continue;
      if (auto stream = open.stream.lock()) {
        ending.push_back(std::move(stream));
      } else {
        open.end_once_started = true;  // Watch ends it when it attaches the stream
      }
    }
  }
  for (const auto& stream : ending) stream->End();
  return static_cast<int>(ending.size());
}

void HttpGateway::Handle(Request request, Responder respond) {
  spdlog::debug("HTTP {} {}", ForLog(request.method), ForLog(request.target));
  // Answered on the I/O thread: nothing here waits.
  // HEAD is GET without the body (the connection writes the head only): load balancers and
  // probes check health and metrics with it. Every route that takes GET takes HEAD.
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/healthz" && get) {
    return respond.Reply(
        WithDefaults(Response{.content_type = kJson, .body = R"({"status":"ok"})"}));
  }
  if (request.path == "/metrics" && get && options_.metrics) {
    return Offload(std::move(request), respond, [this](const Request&) {
      return Response{.content_type = metrics::kContentType, .body = options_.metrics()};
    });
  }
  const bool api = absl::StartsWith(request.path, "/api/");
  if (!api && request.path != "/metrics" && get && files_ != nullptr) {
    if (std::optional<Response> file = files_->Serve(request)) {
      return respond.Reply(WithDefaults(*std::move(file)));
    }
  }
  if (api && request.path.size() <= kLongestRoutePath) {
    for (const Route& route : routes_) {
      std::smatch match;
      // HEAD is GET without the body (RFC 9110 §9.3.2): the route runs as for GET and the
      // connection sends the head only, with GET's Content-Length.
      const bool method_matches =
          route.method == request.method || (request.method == "HEAD" && route.method == "GET");
      if (!method_matches || !std::regex_match(request.path, match, route.path)) continue;
      // Signing in reads a header only; every other POST carries JSON and must say so.
      if (request.method == "POST" && request.path != "/api/v1/session") {
        if (std::optional<Response> refusal = RequireJson(request)) {
          return respond.Reply(WithDefaults(*std::move(refusal)));
        }
      }
      Captures captures(match.begin(), match.end());
      return Offload(std::move(request), respond,
                     [&route, captures = std::move(captures), respond](const Request& request) {
                       return route.handle(request, captures, respond);
                     });
    }
  }
  // Nothing answers this method here: 405 naming the methods that do (RFC 9110 §15.5.6), or
  // 404 when nothing is here at all.
  const std::vector<std::string> allowed = MethodsFor(request.path);
  if (allowed.empty()) return respond.Reply(WithDefaults(NotFound(request)));
  const std::string allow = absl::StrJoin(allowed, ", ");
  // UNIMPLEMENTED, as grpc-gateway reports a method a path does not take.
  Response refusal = Error(absl::UnimplementedError(absl::StrCat(
      ForLog(request.method), " is not allowed on ", ForLog(request.path), ", which takes ",
      allow, ".")));
  refusal.status = 405;
  refusal.SetHeader("Allow", allow);
  respond.Reply(WithDefaults(std::move(refusal)));
}

std::vector<std::string> HttpGateway::MethodsFor(const std::string& path) const {
  std::vector<std::string> methods;
  auto add = [&methods](const std::string& method) {
    if (std::find(methods.begin(), methods.end(), method) != methods.end()) return;
    methods.push_back(method);
    if (method == "GET") methods.push_back("HEAD");
  };
  if (path == "/healthz" || (path == "/metrics" && options_.metrics)) {
    add("GET");
  } else if (!absl::StartsWith(path, "/api/")) {
    if (path != "/metrics" && files_ != nullptr && files_->Has(path)) add("GET");
  } else if (path.size() <= kLongestRoutePath) {
    for (const Route& route : routes_) {
      if (std::regex_match(path, route.path)) add(route.method);
    }
  }
  return methods;
}

void HttpGateway::Offload(Request request, Responder respond,
                          std::function<Response(const Request&)> work) {
  pool_.Post([request = std::move(request), respond, work = std::move(work)] {
    Response response;
    try {
      response = work(request);
    } catch (const std::exception& e) {
      // The service returns statuses; this catches what a library might throw (bad_alloc).
      spdlog::error("HTTP {} {} failed: {}", ForLog(request.method), ForLog(request.path),
                    e.what());
      response = Error(absl::InternalError("the server failed to answer this request."));
    }
    if (response.status == 0) return;  // a stream was opened instead
    if (response.status == 401) Challenge(request, response);
    CompressFor(request, response);
    respond.Reply(WithDefaults(std::move(response)));
  });
}

void HttpGateway::AddRoutes() {
  // The shape the API's routes share (Call above); `serve` gets the caller and the filled
  // message, and also the request and its responder when it takes them (the event stream reads
  // a header and answers with a stream).
  auto api = [this]<typename In, typename Serve>(const char* method, const char* pattern,
                                                 Call<In> call, Serve serve) {
    routes_.push_back(
        Route{method, std::regex(pattern),
              [this, call = std::move(call), serve = std::move(serve)](
                  const Request& request, const Captures& captures,
                  const Responder& respond) -> Response {
                absl::StatusOr<auth::Caller> caller = service_.Authenticate(TokenOf(request));
                if (!caller.ok()) return Error(caller.status());
                if (!caller->has_value()) {  // authentication is off
                  if (auto refusal = RefuseForeignHost(request, options_.allowed_hosts)) {
                    return *std::move(refusal);
                  }
                }
                In in;
                absl::Status parsed = call.from_body
                                          ? JsonToMessage(request.body, in, options_.max_json_depth)
                                          : QueryToMessage(request.query, call.reserved, in);
                if (parsed.ok() && call.from_path) parsed = call.from_path(captures, in);
                if (!parsed.ok()) return Error(parsed);
                Response out;
                if constexpr (std::is_invocable_v<Serve, const auth::Caller&, const In&,
                                                  const Request&, const Responder&>) {
                  out = serve(*caller, in, request, respond);
                } else {
                  out = serve(*caller, in);
                }
                // An artifact's ETag is its content's hash, so a match means the same bytes;
                // checked only after the service has said that the caller may read it, and
                // against the tag of the form it would be sent in (gzip has its own).
                std::string etag = out.Header("ETag");
                if (!etag.empty() && WillGzip(request, out)) etag = GzipETag(etag);
                if (out.status == 200 && !etag.empty() && MatchesIfNoneMatch(request, etag)) {
                  // The headers a 200 would have had for the validator (RFC 9110, 15.4.5).
                  if (Compressible(out.content_type)) out.SetHeader("Vary", "Accept-Encoding");
                  out.SetHeader("ETag", etag);
                  out.status = 304;
                  out.body.clear();
                  out.shared_body.reset();
                  out.content_type.clear();
                }
                return out;
              }});
  };

  // Who am I: the session's (or the Authorization header's) user, or that no token is needed.
  routes_.push_back(Route{"GET", std::regex("/api/v1/session"),
                          [this](const Request& request, const Captures&, const Responder&) {
                            absl::StatusOr<auth::Caller> caller =
                                service_.Authenticate(TokenOf(request));
                            if (!caller.ok()) return Error(caller.status());
                            return Message(service::AblationService::WhoAmI(*caller));
                          }});

  // Signing in: the token comes in the Authorization header (never in a URL, which ends up in
  // logs and histories) and goes back as the session cookie once it is valid. Another site
  // cannot do this for a visitor: it cannot set the header without a CORS preflight.
  routes_.push_back(Route{
      "POST", std::regex("/api/v1/session"),
      [this](const Request& request, const Captures&, const Responder&) {
        const std::string token(auth::BearerToken(request.Header("Authorization")));
        absl::StatusOr<auth::Caller> caller = service_.Authenticate(token);
        if (!caller.ok()) return Error(caller.status());
        Response out = Message(service::AblationService::WhoAmI(*caller));
        if (caller->has_value()) {
          out.SetHeader(
              "Set-Cookie",
              absl::StrCat(kSessionCookie, "=", token, "; Max-Age=", kSessionMaxAgeSeconds,
                           "; Path=/; HttpOnly; SameSite=Strict", request.tls ? "; Secure" : ""));
        }
        return out;
      }});

  // Signing out: the cookie is cleared, whoever asks (it is the browser's own).
  routes_.push_back(Route{"DELETE", std::regex("/api/v1/session"),
                          [](const Request&, const Captures&, const Responder&) {
                            Response out{.content_type = kJson, .body = "{}"};
                            out.SetHeader("Set-Cookie",
                                          absl::StrCat(kSessionCookie,
                                                       "=; Max-Age=0; Path=/; HttpOnly; "
                                                       "SameSite=Strict"));
                            return out;
                          }});

  api("POST", "/api/v1/jobs", Call<v1::SubmitJobRequest>{.from_body = true},
      [this](const auth::Caller& caller, const v1::SubmitJobRequest& in) {
        absl::StatusOr<v1::Job> job = service_.SubmitJob(caller, in);
        if (!job.ok()) return Error(job.status());
        v1::SubmitJobResponse out;
        *out.mutable_job() = *std::move(job);
        return Message(out);
      });

  api("GET", "/api/v1/jobs", Call<v1::ListJobsRequest>{},
      [this](const auth::Caller& caller, const v1::ListJobsRequest& in) {
        return Reply(service_.ListJobs(caller, in));
      });

  api("GET", "/api/v1/jobs/([^/:]+)",
      Call<v1::GetJobRequest>{.reserved = {"job_id"},
                              .from_path = IdAt1("the job id", &v1::GetJobRequest::set_job_id)},
      [this](const auth::Caller& caller, const v1::GetJobRequest& in) {
        return Reply(service_.GetJob(caller, in));
      });

  api("DELETE", "/api/v1/jobs/([^/:]+)",
      Call<v1::DeleteJobRequest>{
          .reserved = {"job_id"},
          .from_path = IdAt1("the job id", &v1::DeleteJobRequest::set_job_id)},
      [this](const auth::Caller& caller, const v1::DeleteJobRequest& in) {
        return Reply(service_.DeleteJob(caller, in));
      });

  // Google's custom-method style (":cancel") and the plainer "/cancel".
  api("POST", "/api/v1/jobs/([^/:]+)(?::|/)cancel",
      Call<v1::CancelJobRequest>{
          .from_body = true, .from_path = IdAt1("the job id", &v1::CancelJobRequest::set_job_id)},
      [this](const auth::Caller& caller, const v1::CancelJobRequest& in) {
        absl::StatusOr<v1::Job> job = service_.CancelJob(caller, in);
        if (!job.ok()) return Error(job.status());
        v1::CancelJobResponse out;
        *out.mutable_job() = *std::move(job);
        return Message(out);
      });

  // A job's note and tags: the body is an UpdateJobNotesRequest without its job_id.
  api("POST", "/api/v1/jobs/([^/:]+)/notes",
      Call<v1::UpdateJobNotesRequest>{
          .from_body = true,
          .from_path = IdAt1("the job id", &v1::UpdateJobNotesRequest::set_job_id)},
      [this](const auth::Caller& caller, const v1::UpdateJobNotesRequest& in) {
        return Reply(service_.UpdateJobNotes(caller, in));
      });

  api("GET", "/api/v1/jobs/([^/:]+)/artifacts/([^/]+)",
      Call<v1::GetArtifactRequest>{.reserved = {"job_id", "name"},
                                   .from_path =
                                       [](const Captures& captures, v1::GetArtifactRequest& in) {
                                         absl::StatusOr<int64_t> id =
                                             ParseId(captures[1], "the job id");
                                         if (!id.ok()) return id.status();
                                         in.set_job_id(*id);
                                         in.set_name(captures[2]);
                                         return absl::OkStatus();
                                       }},
      [this](const auth::Caller& caller, const v1::GetArtifactRequest& in,
             const Request& request, const Responder&) {
        absl::StatusOr<std::shared_ptr<const service::HeldArtifact>> held =
            service_.GetArtifact(caller, in);
        if (!held.ok()) {
          Response refused = Error(held.status());
          if (held.status().code() == absl::StatusCode::kUnavailable) {
            refused.SetHeader("Retry-After", "5");
          }
          return refused;
        }
        const store::Artifact& artifact = (*held)->artifact();
        Response out{.content_type = artifact.content_type};
        out.SetHeader("Cache-Control", "no-cache");  // revalidate: cheap, thanks to the ETag
        out.SetHeader("Content-Disposition", absl::StrCat("attachment; filename=\"",
                                                          AttachmentName(artifact.name), "\""));
        // Sent from the copy every download of the file shares, compressed once for all of
        // them; a revalidation that matches (the route's caller answers 304) compresses
        // nothing.
        const std::string etag = absl::StrCat("\"", artifact.sha256, "\"");
        const bool compressible = Compressible(artifact.content_type);
        const bool gzip = compressible && !artifact.data.empty() &&
                          AcceptsGzip(request.Header("Accept-Encoding"));
        if (compressible) out.SetHeader("Vary", "Accept-Encoding");
        out.SetHeader("ETag", gzip ? GzipETag(etag) : etag);
        if (gzip && MatchesIfNoneMatch(request, GzipETag(etag))) return out;
        const std::string* gzipped =
            gzip ? &(*held)->Compressed([](std::string_view data) { return Gzip(data); })
                 : nullptr;
        if (gzipped != nullptr && !gzipped->empty()) {
          out.SetHeader("Content-Encoding", "gzip");
          out.shared_body = std::shared_ptr<const std::string>(*held, gzipped);
        } else {
          out.SetHeader("ETag", etag);  // zlib failed: the file goes as it is
          out.shared_body = std::shared_ptr<const std::string>(*held, &artifact.data);
        }
        return out;
      });

  api("GET", "/api/v1/class", Call<v1::GetClassViewRequest>{},
      [this](const auth::Caller& caller, const v1::GetClassViewRequest& in) {
        return Reply(service_.GetClassView(caller, in));
      });

  api("GET", "/api/v1/runs/([^/:]+)/trajectory",
      Call<v1::GetTrajectoryRequest>{
          .reserved = {"run_id"},
          .from_path = IdAt1("the run id", &v1::GetTrajectoryRequest::set_run_id)},
      [this](const auth::Caller& caller, const v1::GetTrajectoryRequest& in) {
        return Reply(service_.GetTrajectory(caller, in));
      });

  // An EventSource that reconnects sends its last cursor in Last-Event-ID, which wins over the
  // query's.
  api("GET", "/api/v1/jobs/([^/:]+)/events",
      Call<v1::WatchJobRequest>{
          .reserved = {"job_id"},
          .from_path = IdAt1("the job id", &v1::WatchJobRequest::set_job_id)},
      [this](const auth::Caller& caller, const v1::WatchJobRequest& query, const Request& request,
             const Responder& respond) {
        v1::WatchJobRequest in = query;
        if (request.HasHeader("Last-Event-ID")) {
          const std::string last = request.Header("Last-Event-ID");
          uint64_t cursor = 0;
          if (!absl::SimpleAtoi(last, &cursor)) {
            return Error(absl::InvalidArgumentError(
                absl::StrCat("the Last-Event-ID header must be a cursor from this stream, a "
                             "non-negative integer (got \"",
                             ForLog(last), "\").")));
          }
          in.set_cursor(cursor);
        }
        return Watch(request.method == "HEAD", caller, TokenOf(request), in, respond);
      });
}

Response HttpGateway::Watch(bool head_only, const auth::Caller& caller,
                            const std::string& token, const v1::WatchJobRequest& in,
                            const Responder& respond) {
  const StreamInfo info{.user = caller ? caller->name : "", .job_id = in.job_id()};
  uint64_t key = 0;
  {
    absl::MutexLock lock(&streams_mutex_);
    if (static_cast<int>(streams_.size()) >= options_.max_streams) {
      Response busy = Error(absl::UnavailableError(
          absl::StrCat("the server is already streaming to ", options_.max_streams,
                       " clients, its limit (--http-max-streams); try again shortly.")));
      busy.SetHeader("Retry-After", "5");
      return busy;
    }
    key = next_stream_++;
    streams_[key] = Open{.info = info};  // holds the place while the watch starts
  }
  service::StreamLimits& limits = service_.Streams();
  absl::StatusOr<uint64_t> ticket = limits.Admit(caller, token);
  if (!ticket.ok()) {
    absl::MutexLock lock(&streams_mutex_);
    streams_.erase(key);
    Response refused = Error(ticket.status());
    refused.SetHeader("Retry-After", "5");
    return refused;
  }
  absl::StatusOr<std::unique_ptr<service::JobWatch>> watch = service_.WatchJob(caller, in);
  if (!watch.ok()) {
    limits.Release(*ticket);
    absl::MutexLock lock(&streams_mutex_);
    streams_.erase(key);
    return Error(watch.status());
  }
  auto on_end = [this, key, &limits, ticket = *ticket] {
    limits.Release(ticket);
    absl::MutexLock lock(&streams_mutex_);
    streams_.erase(key);
  };
  if (head_only) {
    // HEAD: everything GET would have checked is checked (the job, the caller's access, the
    // cursor, both stream limits), and its place is given back before the head goes out.
    (*watch)->Cancel();
    on_end();
    if (auto out = respond.Stream(EventStreamHead(), StreamOptions{})) out->End();
    return Response{.status = 0};  // answered (see Offload)
  }
  std::shared_ptr<ResponseStream> out = respond.Stream(EventStreamHead(), EventStream::Options());
  if (out == nullptr) {
    (*watch)->Cancel();
    on_end();
    return Response{.status = 0};
  }
  std::shared_ptr<EventStream> stream =
      EventStream::Start(*std::move(watch), std::move(out), std::move(on_end));
  // A revoked token's stream ends with an error event; the reference is weak, so a stream
  // that has ended is left alone.
  limits.Attach(*ticket, [weak = std::weak_ptr<EventStream>(stream)](const absl::Status& why) {
    if (auto stream = weak.lock()) stream->End(why);
  });
  bool end_now = false;
  {
    absl::MutexLock lock(&streams_mutex_);
    auto open = streams_.find(key);
    if (open != streams_.end()) {
      open->second.stream = stream;
      end_now = open->second.end_once_started;
    }
  }
  // EndStreams (a drain) ran while this watch was starting: without this the stream would stay
  // open until its job's end, holding the server's stop.
  if (end_now) stream->End();
  return Response{.status = 0};  // answered by the stream (see Offload)
}

}  // namespace ablate::http
