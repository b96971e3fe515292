// The one way Ablate prints its messages as JSON, in every file it writes and every `--json`
// it prints: field names as in the .proto (snake_case, as job.json and manifest.json have
// always had them), and 64-bit integers (ids, seeds) as JSON numbers when they fit a double
// exactly (|v| <= 2^53), else as protobuf's decimal strings. Either form parses back
// (google::protobuf::util::JsonStringToMessage accepts both names and both integer forms).
// The HTTP API keeps protobuf's lowerCamelCase field names for the page.
#ifndef ABLATE_PROTO_JSON_H_
#define ABLATE_PROTO_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace ablate {

struct JsonStyle {
  bool pretty = true;            // two-space indents and a final newline
  bool print_defaults = false;   // also fields at their default (0, "", false)
};

std::string ProtoToJson(const google::protobuf::Message& message, JsonStyle style = {});

}  // namespace ablate

#endif  // ABLATE_PROTO_JSON_H_
