// The HTTP gateway's translations: absl::Status to an HTTP status and a JSON error body, API
// messages to and from protobuf's JSON mapping, and a URL query into a request message.
// Everything here is a pure function, so the gateway's rules can be tested without a socket.
#ifndef ABLATE_SERVER_HTTP_MAPPING_H_
#define ABLATE_SERVER_HTTP_MAPPING_H_

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace ablate::http {

// The one mapping from the service's errors to HTTP's (as grpc-gateway and Google's API
// guide map them, except FAILED_PRECONDITION, which is 409: the request was fine, the job's
// state was not).
int HttpStatusFor(absl::StatusCode code);

// {"error": {"code": "INVALID_ARGUMENT", "message": "model.depth must be ..."}} on one line:
// the canonical code name and the service's sentence. `status` must not be OK.
std::string ErrorJson(const absl::Status& status);

// Protobuf's canonical JSON mapping on one line (so it fits in one Server-Sent Event's data):
// lowerCamelCase names, every field printed (zeros and empty lists too, so clients need no
// defaults table), enums by name, 64-bit integers as strings, NaN and infinities as "NaN",
// "Infinity" and "-Infinity".
std::string MessageToJson(const google::protobuf::Message& message);

// The default of --http-max-json-depth: the API's deepest message nests 4 levels.
inline constexpr int kMaxJsonDepth = 32;

// True when no array or object in `json` is nested more than `max_depth` levels deep (the
// outermost is level 1). A single linear pass that skips strings (and their escapes); it does
// not check anything else, so it also answers for text that is not JSON.
bool JsonDepthWithin(std::string_view json, int max_depth);

// Parses a request body into `message` with the same mapping (either lowerCamelCase or the
// .proto's snake_case names). An empty body (or only whitespace) is the empty message.
// InvalidArgument names the problem in one sentence: the field by its path
// ("spec.runs[0].init"), what it takes and what came, or for text that is not JSON what is
// wrong and where; unknown fields are refused (naming the ones taken) so that a typo is not
// silently ignored. A body nested deeper than `max_depth` is refused before protobuf's parser
// sees it: that parser's time grows faster than linearly with the nesting (a 1 MB body of
// nested arrays took minutes).
absl::Status JsonToMessage(std::string_view json, google::protobuf::Message& message,
                           int max_depth = kMaxJsonDepth);

// Fills `message` from URL query parameters: each key is one of the message's scalar,
// enum or Timestamp fields, by its .proto name or lowerCamelCase JSON name. Values are given
// as in the JSON mapping, except that an enum value may drop its type's prefix and case
// ("running" for JOB_STATE_RUNNING). A repeated field takes several occurrences or one
// comma-separated list. Keys in `reserved` (fields that the URL path sets) and unknown keys
// are refused with InvalidArgument naming the key and the accepted ones.
absl::Status QueryToMessage(const std::multimap<std::string, std::string>& query,
                            const std::set<std::string>& reserved,
                            google::protobuf::Message& message);

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_MAPPING_H_
