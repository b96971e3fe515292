#include "proto/json.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace ablate {
namespace {

namespace pb = google::protobuf;
using Json = nlohmann::ordered_json;  // keeps the .proto's field order

constexpr int64_t kMaxExact = int64_t{1} << 53;

bool Is64Bit(const pb::FieldDescriptor& field) {
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT64:
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return true;
    default:
      return false;
  }
}

// "123" -> 123 when it fits a double exactly; unchanged otherwise.
void Numberize(Json& value, bool is_unsigned) {
  if (!value.is_string()) return;
  const std::string& text = value.get_ref<const std::string&>();
  if (is_unsigned) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc() && end == text.data() + text.size() && v <= uint64_t{kMaxExact}) {
      value = v;
    }
  } else {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc() && end == text.data() + text.size() && v <= kMaxExact &&
        v >= -kMaxExact) {
      value = v;
    }
  }
}

// Walks `json` (protobuf's JSON of a message of type `type`) beside its descriptor.
void Walk(Json& json, const pb::Descriptor& type) {
  if (!json.is_object()) return;  // a well-known type printed as a string (Timestamp)
  for (int i = 0; i < type.field_count(); ++i) {
    const pb::FieldDescriptor& field = *type.field(i);
    auto it = json.find(field.name());
    if (it == json.end()) continue;
    const bool is_unsigned = field.cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64;
    auto visit = [&](Json& value) {
      if (Is64Bit(field)) {
        Numberize(value, is_unsigned);
      } else if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE && !field.is_map()) {
        Walk(value, *field.message_type());
      }
    };
    if (it->is_array()) {
      for (Json& element : *it) visit(element);
    } else {
      visit(*it);
    }
  }
}

}  // namespace

std::string ProtoToJson(const pb::Message& message, JsonStyle style) {
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = style.print_defaults;
  std::string text;
  // Printing a well-formed message of the compiled-in types cannot fail.
  (void)pb::util::MessageToJsonString(message, &text, options);
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return text;  // cannot happen; never lose the output
  Walk(json, *message.GetDescriptor());
  std::string out = json.dump(style.pretty ? 2 : -1, ' ', /*ensure_ascii=*/false,
                              Json::error_handler_t::replace);
  if (style.pretty) out += '\n';
  return out;
}

}  // namespace ablate
