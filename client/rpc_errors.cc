#include "client/rpc_errors.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace ablate::client {
namespace {

// "10 s", "2.5 s", "0.25 s": the timeout as the user typed it with --timeout.
std::string Seconds(absl::Duration d) { return absl::StrFormat("%g s", absl::ToDoubleSeconds(d)); }

// "<lead>: <server message>", or just "<lead>" when the server said nothing.
std::string WithDetail(absl::string_view lead, const std::string& detail) {
  if (detail.empty()) return std::string(lead);
  return absl::StrCat(lead, ": ", detail);
}

// UNAVAILABLE: the server could not be reached, or the connection broke, or the server said
// it cannot serve now. Each says what to do differently.
std::string DescribeUnavailable(const std::string& detail, const CallSite& site) {
  // gRPC's own text ("failed to connect to all addresses; last error: ...") helps nobody;
  // the one case worth telling apart is a host name that does not resolve.
  if (absl::StrContains(detail, "DNS resolution failed")) {
    return absl::StrCat("cannot reach the Ablate server at ", site.server,
                        ": its host name does not resolve");
  }
  // TLS on one side only, or a certificate the client does not trust, fails the same way
  // as a server that is down unless told apart here.
  if (absl::StrContains(detail, "certificate verify failed")) {
    return absl::StrCat("the Ablate server at ", site.server,
                        " has a TLS certificate this client does not trust (give the "
                        "certificate that signs it with --tls-ca FILE or ABLATE_TLS_CA)");
  }
  if (absl::StrContains(detail, "is not in peer certificate")) {
    return absl::StrCat("the TLS certificate of the Ablate server at ", site.server,
                        " is not for that name (give --server a host name or IP address "
                        "its certificate lists)");
  }
  if (site.tls && absl::StrContains(detail, "Ssl handshake failed")) {
    return absl::StrCat("cannot talk TLS with the Ablate server at ", site.server,
                        " (was it started with --tls-cert? if not, drop --tls and --tls-ca)");
  }
  // gRPC's port is --listen; --http's answers HTTP/1.1, which gRPC names.
  if (absl::StrContains(detail, "http1.x server")) {
    return absl::StrCat("the address ", site.server,
                        " answers HTTP/1.1, not gRPC: it is an Ablate server's web port "
                        "(--http); give --server its gRPC address (--listen)");
  }
  // Closed while connecting is how a TLS server answers a plaintext hello; closed later,
  // the server went away in the middle of the call (stopped or killed).
  const bool while_connecting = absl::StrContains(detail, "failed to connect");
  if (!site.tls && while_connecting && absl::StrContains(detail, "Socket closed")) {
    return absl::StrCat("the Ablate server at ", site.server,
                        " closed the connection (if it serves TLS, i.e. was started with "
                        "--tls-cert, add --tls-ca FILE or --tls)");
  }
  if (!while_connecting && !detail.empty()) {
    // The transport's words for a connection that broke, against a sentence the server
    // sent itself (e.g. that it is shutting down), which is worth passing on as it is.
    for (absl::string_view broken :
         {"Socket closed", "Connection reset", "Broken pipe", "GOAWAY", "Endpoint"}) {
      if (absl::StrContains(detail, broken)) {
        return absl::StrCat("the connection to the Ablate server at ", site.server,
                            " broke during the request (did the server stop or restart?)");
      }
    }
    return WithDetail(absl::StrCat("the Ablate server at ", site.server, " is unavailable"),
                      detail);
  }
  return absl::StrCat("cannot reach the Ablate server at ", site.server,
                      " (is ablate-server running?)");
}

}  // namespace

std::string OneLine(absl::string_view text) {
  std::string line;
  line.reserve(text.size());
  for (char c : text) line.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  absl::string_view trimmed = absl::StripAsciiWhitespace(line);
  if (absl::EndsWith(trimmed, ".") && !absl::EndsWith(trimmed, "..")) {
    trimmed.remove_suffix(1);
  }
  return std::string(trimmed);
}

std::string DescribeRpcError(const grpc::Status& status, const CallSite& site) {
  const std::string detail = OneLine(status.error_message());
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return "no error";
    case grpc::StatusCode::UNAVAILABLE:
      return DescribeUnavailable(detail, site);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::StrCat("the Ablate server at ", site.server, " did not answer within ",
                          Seconds(site.timeout), " (raise --timeout if it is busy)");
    case grpc::StatusCode::INVALID_ARGUMENT:
      return WithDetail("the server refused the request", detail);
    case grpc::StatusCode::NOT_FOUND:
      // The server's "job 999 not found" says it already: not "not found: job 999 not found".
      if (absl::StrContains(detail, "not found")) return detail;
      return WithDetail("not found", detail);
    case grpc::StatusCode::ALREADY_EXISTS:
      return WithDetail("already exists", detail);
    case grpc::StatusCode::FAILED_PRECONDITION:
      return WithDetail("not possible yet", detail);
    case grpc::StatusCode::OUT_OF_RANGE:
      return WithDetail("out of range", detail);
    case grpc::StatusCode::PERMISSION_DENIED:
      return WithDetail("permission denied", detail);
    case grpc::StatusCode::UNAUTHENTICATED:
      // The server's sentence is for every client; this one says what to do with the CLI.
      if (!site.has_token) {
        return absl::StrCat("the server at ", site.server,
                            " needs a token: pass --token or set ABLATE_TOKEN (your instructor "
                            "issues tokens)");
      }
      return WithDetail(absl::StrCat("the server at ", site.server, " did not accept the token"),
                        detail);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return WithDetail("the server is at a limit", detail);
    case grpc::StatusCode::ABORTED:
      return WithDetail("the request was aborted (try again)", detail);
    case grpc::StatusCode::CANCELLED:
      return WithDetail("the request was cancelled", detail);
    case grpc::StatusCode::UNIMPLEMENTED:
      return WithDetail(absl::StrCat("the server at ", site.server,
                                     " does not support this request (is it an Ablate server "
                                     "of the same version?)"),
                        detail);
    case grpc::StatusCode::DATA_LOSS:
      return WithDetail("the server lost data", detail);
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    default:
      return WithDetail("the server failed", detail);
  }
}

absl::Status ToAbslStatus(const grpc::Status& status, const CallSite& site) {
  if (status.ok()) return absl::OkStatus();
  // grpc::StatusCode and absl::StatusCode share their numbering (both are the canonical codes).
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      DescribeRpcError(status, site));
}

}  // namespace ablate::client
