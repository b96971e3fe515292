// An HTTP request as the gateway's handlers see it, and the response they give back: plain
// values with no tie to the server that carries them (http_server.h), so handlers can be
// written and tested without a socket.
#ifndef ABLATE_SERVER_HTTP_MESSAGE_H_
#define ABLATE_SERVER_HTTP_MESSAGE_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ablate::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;                             // "GET", "POST", ...
  std::string target;                             // as sent: the path and the query
  std::string path;                               // the target's path, percent-decoded
  std::multimap<std::string, std::string> query;  // decoded; '+' is a space
  Headers headers;                                // in the order received
  std::string body;                               // complete (chunked bodies are joined)
  bool tls = false;                               // arrived over TLS
  std::string peer;                               // the client's address

  // The first value of header `name` (case-insensitive), or "" without one.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // Every value of header `name`, in order.
  std::vector<std::string> HeaderValues(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type{};  // empty: no Content-Type (a 304, for one)
  std::string body{};
  // When set, the body instead of `body`: bytes shared with other responses and sent from
  // where they are (a file a whole class downloads at once is not copied per download).
  std::shared_ptr<const std::string> shared_body{};
  Headers headers{};  // besides Content-Type, Content-Length and Connection

  const std::string& Body() const { return shared_body ? *shared_body : body; }

  // Replaces every header `name` (case-insensitive) with this one.
  void SetHeader(std::string_view name, std::string value);
  // The first value of header `name`, or "".
  std::string Header(std::string_view name) const;
};

// Whether the request's If-None-Match names `etag` (a quoted entity tag, as sent in ETag), so
// that the client's copy is current (304): by weak comparison (W/"x" and "x" match), in any of
// the listed tags, of any of its header lines, or "*" (RFC 9110 §13.1.2).
bool MatchesIfNoneMatch(const Request& request, std::string_view etag);

// %XX escapes decoded (a malformed one is kept as it is); '+' as a space when `plus_is_space`
// (query strings).
std::string PercentDecode(std::string_view text, bool plus_is_space);

// Splits a request target into its decoded path and query parameters.
void ParseTarget(std::string_view target, std::string& path,
                 std::multimap<std::string, std::string>& query);

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_MESSAGE_H_
