// JSON helpers shared by the files' renderers (internal to the artifacts library).
#ifndef ABLATE_SERVER_ARTIFACTS_JSON_UTIL_H_
#define ABLATE_SERVER_ARTIFACTS_JSON_UTIL_H_

#include <optional>
#include <string>

#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace ablate::artifacts {

using Json = nlohmann::ordered_json;  // keeps keys in the order they were written

// Two-space indentation, except that an array of numbers, strings, booleans and nulls goes on
// one line: a 1000-step loss array is one line, not a thousand. Ends with a newline.
std::string PrettyJson(const Json& value);

// A float32 loss as JSON: its shortest round-trip decimal, or null when not finite.
Json LossJson(float value);
template <typename T>
Json OrNull(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

// A protobuf message in proto3's JSON mapping (field names as in the .proto), as a JSON value.
Json ProtoJson(const google::protobuf::Message& message);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_JSON_UTIL_H_
