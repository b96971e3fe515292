#include "server/artifacts/json_util.h"

#include <cmath>

#include "google/protobuf/util/json_util.h"
#include "proto/json.h"
#include "server/artifacts/format.h"

namespace ablate::artifacts {
namespace {

bool IsScalarArray(const Json& value) {
  if (!value.is_array()) return false;
  for (const Json& element : value) {
    if (element.is_structured()) return false;
  }
  return true;
}

void Write(const Json& value, int depth, std::string& out) {
  const std::string indent(2 * (depth + 1), ' ');
  const std::string closing_indent(2 * depth, ' ');
  if (value.is_object() && !value.empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& [key, element] : value.items()) {
      if (!first) out += ",\n";
      first = false;
      out += indent;
      out += Json(key).dump();
      out += ": ";
      Write(element, depth + 1, out);
    }
    out += "\n" + closing_indent + "}";
  } else if (value.is_array() && !value.empty() && !IsScalarArray(value)) {
    out += "[\n";
    bool first = true;
    for (const Json& element : value) {
      if (!first) out += ",\n";
      first = false;
      out += indent;
      Write(element, depth + 1, out);
    }
    out += "\n" + closing_indent + "]";
  } else if (value.is_array()) {
    out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
  } else {
    out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

}  // namespace

std::string PrettyJson(const Json& value) {
  std::string out;
  Write(value, 0, out);
  out += "\n";
  return out;
}

Json LossJson(float value) {
  if (!std::isfinite(value)) return nullptr;
  return FloatForJson(value);
}

Json ProtoJson(const google::protobuf::Message& message) {
  return Json::parse(ProtoToJson(message, {.pretty = false}), nullptr,
                     /*allow_exceptions=*/false);
}

}  // namespace ablate::artifacts
