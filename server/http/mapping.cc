#include "server/http/mapping.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/jobs/text.h"

namespace ablate::http {

namespace {

namespace pb = google::protobuf;

// Protobuf's JSON parser says "INVALID_ARGUMENT:" and similar before its message; people need
// only the message.
std::string ParserMessage(std::string_view message) {
  const size_t colon = message.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    const std::string_view head = message.substr(0, colon);
    if (std::all_of(head.begin(), head.end(), [](char c) { return std::isupper(c) || c == '_'; })) {
      message.remove_prefix(colon + 1);
    }
  }
  return std::string(absl::StripAsciiWhitespace(absl::string_view(message.data(), message.size())));
}

// JOB_STATE_RUNNING for "running", "RUNNING", "job_state_running" or "JOB_STATE_RUNNING";
// the value unchanged when it names no value (or several), so the parser reports it.
std::string EnumValueName(const pb::EnumDescriptor& type, const std::string& value) {
  if (type.FindValueByName(value) != nullptr) return value;
  const std::string upper = absl::AsciiStrToUpper(value);
  const pb::EnumValueDescriptor* match = nullptr;
  for (int i = 0; i < type.value_count(); ++i) {
    const std::string& name = type.value(i)->name();
    if (name == upper || absl::EndsWith(name, absl::StrCat("_", upper))) {
      if (match != nullptr) return value;
      match = type.value(i);
    }
  }
  return match != nullptr ? match->name() : value;
}

bool QueryableField(const pb::FieldDescriptor& field) {
  if (field.is_map()) return false;
  if (field.cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) return true;
  return field.message_type()->full_name() == "google.protobuf.Timestamp";
}

std::string AcceptedKeys(const pb::Descriptor& descriptor, const std::set<std::string>& reserved) {
  std::vector<std::string> keys;
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const pb::FieldDescriptor& field = *descriptor.field(i);
    if (QueryableField(field) && !reserved.contains(field.name())) keys.push_back(field.name());
  }
  return keys.empty() ? "none" : absl::StrJoin(keys, ", ");
}

// Protobuf's JSON parser (3.21) reads a lone value given for a repeated field as a list of one,
// which the JSON mapping does not allow: {"runs": {"init": "xavier"}} is a client's mistake
// about the API, and is refused like any other wrong type. `value` is the body already parsed
// as JSON and accepted by the parser for `descriptor`; `path` names it ("spec.").
absl::Status CheckLists(const pb::Value& value, const pb::Descriptor& descriptor,
                        const std::string& path) {
  if (value.kind_case() != pb::Value::kStructValue) return absl::OkStatus();
  for (const auto& [key, item] : value.struct_value().fields()) {
    const pb::FieldDescriptor* field = descriptor.FindFieldByName(key);
    for (int i = 0; field == nullptr && i < descriptor.field_count(); ++i) {
      if (descriptor.field(i)->json_name() == key) field = descriptor.field(i);
    }
    if (field == nullptr || field->is_map()) continue;
    if (item.kind_case() == pb::Value::kNullValue) continue;
    const std::string name = absl::StrCat(path, field->name());
    const pb::Descriptor* type = field->message_type();
    // Well-known types (Timestamp, Struct, ...) have JSON forms of their own.
    const bool nested = type != nullptr && !absl::StartsWith(type->full_name(), "google.protobuf.");
    if (field->is_repeated()) {
      if (item.kind_case() != pb::Value::kListValue) {
        return absl::InvalidArgumentError(absl::StrCat(name, " must be a JSON list ([...])."));
      }
      // protobuf's parser also takes a list nested in the list and reads it flattened, or as
      // nothing ({"addTags": [["a"]]} added the tag a; runs: [[{...}]] made a job).
      for (int i = 0; i < item.list_value().values_size(); ++i) {
        const pb::Value& element = item.list_value().values(i);
        if (element.kind_case() == pb::Value::kListValue) {
          return absl::InvalidArgumentError(absl::StrCat(
              name, "[", i, "] is a list: ", name, " must be a JSON list of ",
              nested ? "objects ({...})" : "values", ", not of lists."));
        }
        if (!nested) continue;
        absl::Status s = CheckLists(element, *type, absl::StrCat(name, "[", i, "]."));
        if (!s.ok()) return s;
      }
    } else if (nested) {
      absl::Status s = CheckLists(item, *type, absl::StrCat(name, "."));
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;  // "client closed request", as grpc-gateway maps it
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    default:
      return 500;
  }
}

std::string ErrorJson(const absl::Status& status) {
  // Written by hand to keep "code" before "message"; the strings go through the JSON writer,
  // which escapes them.
  auto quoted = [](std::string text) {
    pb::Value value;
    value.set_string_value(std::move(text));
    return MessageToJson(value);
  };
  // A message can quote the client's bytes (the JSON parser's do), and protobuf's printer
  // cannot print what is not UTF-8: such bytes are written as \xNN.
  std::string message(status.message());
  if (!jobs::IsUtf8(message)) message = jobs::EscapeForLog(message);
  return absl::StrCat(R"({"error":{"code":)", quoted(absl::StatusCodeToString(status.code())),
                      R"(,"message":)", quoted(std::move(message)), "}}");
}

std::string MessageToJson(const pb::Message& message) {
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  // Printing cannot fail for well-formed messages of the compiled-in types used here.
  (void)pb::util::MessageToJsonString(message, &json, options);
  return json;
}

bool JsonDepthWithin(std::string_view json, int max_depth) {
  int depth = 0;
  // The quote that opened the string being read, or 0 outside strings. protobuf's parser also
  // takes strings in single quotes, inside which a double quote is a plain character: counted
  // as one, it would hide the brackets after it from this check but not from the parser.
  char quote = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;  // whatever is escaped, it neither ends the string nor nests
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced text is the parser's to refuse
    }
  }
  return true;
}

absl::Status JsonToMessage(std::string_view json, pb::Message& message, int max_depth) {
  message.Clear();
  if (absl::StripAsciiWhitespace(absl::string_view(json.data(), json.size())).empty()) {
    return absl::OkStatus();
  }
  if (!JsonDepthWithin(json, max_depth)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body nests JSON arrays and objects more than ", max_depth,
                     " levels deep, the limit (--http-max-json-depth)."));
  }
  const auto status = pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()),
                                                    &message, pb::util::JsonParseOptions());
  std::string problem;
  if (status.ok()) {
    // The parser accepted it, so it is JSON: read again as such to check what it lets pass.
    pb::Value value;
    if (pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), &value).ok()) {
      if (absl::Status s = CheckLists(value, *message.GetDescriptor(), ""); !s.ok()) {
        problem = std::string(s.message());
      }
    }
    if (problem.empty()) return absl::OkStatus();
    message.Clear();
  } else {
    problem = ParserMessage(status.message().as_string());
  }
  return absl::InvalidArgumentError(absl::StrCat("the request body is not a valid ",
                                                 message.GetDescriptor()->name(), ": ", problem));
}

absl::Status QueryToMessage(const std::multimap<std::string, std::string>& query,
                            const std::set<std::string>& reserved, pb::Message& message) {
  const pb::Descriptor& descriptor = *message.GetDescriptor();
  pb::Struct object;
  auto& fields = *object.mutable_fields();
  for (const auto& [key, value] : query) {
    // Protobuf cannot print a string that is not UTF-8 as JSON: refuse it here, naming it,
    // rather than lose the parameter on the way.
    if (!jobs::IsUtf8(key) || !jobs::IsUtf8(value)) {
      return absl::InvalidArgumentError(absl::StrCat("query parameter \"", jobs::EscapeForLog(key),
                                                     "\" is not valid UTF-8 text."));
    }
    const pb::FieldDescriptor* field = descriptor.FindFieldByName(key);
    if (field == nullptr) field = descriptor.FindFieldByLowercaseName(key);
    if (field == nullptr) field = descriptor.FindFieldByCamelcaseName(key);
    if (field == nullptr || !QueryableField(*field) || reserved.contains(field->name())) {
      return absl::InvalidArgumentError(absl::StrCat("unknown query parameter \"", key,
                                                     "\"; this endpoint takes ",
                                                     AcceptedKeys(descriptor, reserved), "."));
    }
    std::vector<std::string> values = {value};
    if (field->is_repeated() && field->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING) {
      values = absl::StrSplit(value, ',', absl::SkipWhitespace());
    }
    pb::Value& slot = fields[field->json_name()];
    if (!field->is_repeated() && slot.kind_case() != pb::Value::KIND_NOT_SET) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter \"", key, "\" is given more than once."));
    }
    for (std::string& v : values) {
      pb::Value item;
      if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_BOOL) {
        if (v != "true" && v != "false") {
          return absl::InvalidArgumentError(absl::StrCat(
              "query parameter \"", key, "\" must be true or false (got \"", v, "\")."));
        }
        item.set_bool_value(v == "true");
      } else if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM) {
        item.set_string_value(EnumValueName(*field->enum_type(), v));
      } else {
        // The JSON mapping reads numbers from strings too, and range-checks them.
        item.set_string_value(std::move(v));
      }
      if (field->is_repeated()) {
        *slot.mutable_list_value()->add_values() = std::move(item);
      } else {
        slot = std::move(item);
      }
    }
  }
  std::string json;
  pb::util::JsonPrintOptions print_options;
  if (!pb::util::MessageToJsonString(object, &json, print_options).ok()) {
    return absl::InvalidArgumentError("the query parameters could not be read as text.");
  }
  message.Clear();
  const auto status = pb::util::JsonStringToMessage(json, &message, pb::util::JsonParseOptions());
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid query parameter: ", ParserMessage(status.message().as_string())));
  }
  return absl::OkStatus();
}

}  // namespace ablate::http
