#include "server/http/mapping.h"

#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/jobs/text.h"

namespace ablate::http {

namespace {

namespace pb = google::protobuf;

// Protobuf's JSON parser may say "INVALID_ARGUMENT:" and similar before its message; people
// need only the message. Only a status code's name is dropped: {"ADMIN": 1} is refused as
// "ADMIN: Cannot find field.", whose field name must stay.
std::string ParserMessage(std::string_view message) {
  const size_t colon = message.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    const std::string head(message.substr(0, colon));
    for (int code = 1; code <= 16; ++code) {
      if (head == absl::StatusCodeToString(static_cast<absl::StatusCode>(code))) {
        message.remove_prefix(colon + 1);
        break;
      }
    }
  }
  return std::string(absl::StripAsciiWhitespace(absl::string_view(message.data(), message.size())));
}

// The field of `descriptor` named `key`, by its .proto name or its JSON name; null for none.
const pb::FieldDescriptor* FieldNamed(const pb::Descriptor& descriptor, absl::string_view key) {
  const std::string name(key);
  const pb::FieldDescriptor* field = descriptor.FindFieldByName(name);
  for (int i = 0; field == nullptr && i < descriptor.field_count(); ++i) {
    if (descriptor.field(i)->json_name() == name) field = descriptor.field(i);
  }
  return field;
}

// The field that a path of the parser's ("spec.runs[0].init") names from `root`; null when a
// part of it names none. `element` says whether the last part picks an item of a list.
const pb::FieldDescriptor* FieldAt(const pb::Descriptor& root, absl::string_view path,
                                   bool& element) {
  const pb::Descriptor* message = &root;
  const pb::FieldDescriptor* field = nullptr;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (message == nullptr) return nullptr;  // a part after a scalar
    const size_t bracket = part.find('[');
    element = bracket != absl::string_view::npos;
    field = FieldNamed(*message, part.substr(0, bracket));
    if (field == nullptr) return nullptr;
    message = field->message_type();
  }
  return field;
}

// The message that a path of the parser's names (`root` for an empty one); null for none.
const pb::Descriptor* MessageAt(const pb::Descriptor& root, absl::string_view path) {
  if (path.empty()) return &root;
  bool element = false;
  const pb::FieldDescriptor* field = FieldAt(root, path, element);
  return field == nullptr ? nullptr : field->message_type();
}

// What `field` takes, in JSON, as a phrase ("a whole number from 0 to 4294967295"); for one item
// when `element`, else for the field (a list for a repeated one).
std::string Expected(const pb::FieldDescriptor& field, bool element) {
  std::string one;
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      one = absl::StrCat("a whole number from ", std::numeric_limits<int32_t>::min(), " to ",
                         std::numeric_limits<int32_t>::max());
      break;
    case pb::FieldDescriptor::CPPTYPE_INT64:
      one = absl::StrCat("a whole number from ", std::numeric_limits<int64_t>::min(), " to ",
                         std::numeric_limits<int64_t>::max());
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      one = absl::StrCat("a whole number from 0 to ", std::numeric_limits<uint32_t>::max());
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      one = absl::StrCat("a whole number from 0 to ", std::numeric_limits<uint64_t>::max());
      break;
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      one = "a number";
      break;
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      one = "true or false";
      break;
    case pb::FieldDescriptor::CPPTYPE_STRING:
      one = field.type() == pb::FieldDescriptor::TYPE_BYTES ? "base64 text" : "a string (\"...\")";
      break;
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      std::vector<std::string> names;
      for (int i = 0; i < field.enum_type()->value_count(); ++i) {
        names.push_back(field.enum_type()->value(i)->name());
      }
      one = absl::StrCat("one of ", absl::StrJoin(names, ", "));
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      one = field.message_type()->full_name() == "google.protobuf.Timestamp"
                ? "a time such as \"2024-09-01T12:00:00Z\" (RFC 3339)"
                : "a JSON object ({...})";
      break;
  }
  if (field.is_repeated() && !element) return absl::StrCat("a JSON list ([...]), each item ", one);
  return one;
}

// The names a message takes, for a refusal of one it does not.
std::string FieldNames(const pb::Descriptor& descriptor) {
  std::vector<std::string> names;
  for (int i = 0; i < descriptor.field_count(); ++i) names.push_back(descriptor.field(i)->name());
  return names.empty() ? "no fields" : absl::StrJoin(names, ", ");
}

// `path` joined to `name` with a dot, or `name` alone.
std::string Joined(absl::string_view path, absl::string_view name) {
  return path.empty() ? std::string(name) : absl::StrCat(path, ".", name);
}

// Protobuf's JSON parser (3.21) reports a problem in its own terms: the path in parentheses,
// C++ and type-URL names ("TYPE_INT32", "type.googleapis.com/ablate.v1.RunSpec"), and for bad
// JSON a copy of the text around the spot with a caret under it. People need the field, what
// it takes and what it got. `message` is the parser's, without its status code; `root` is the
// message parsed. A shape not known here is kept, as its first line.
struct ParserProblem {
  bool not_json = false;  // the text is not JSON at all
  std::string sentence;   // what is wrong, with no final period
};

ParserProblem Explain(std::string_view message, const pb::Descriptor& root) {
  // Bad JSON: "<what>\n<the text around it>\n<spaces>^".
  const std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(message.data(), message.size()), '\n');
  if (lines.size() >= 3 && absl::StripLeadingAsciiWhitespace(lines.back()) == "^") {
    std::vector<std::string> sentences =
        absl::StrSplit(absl::StripSuffix(lines[0], "."), ". ", absl::SkipEmpty());
    if (sentences.empty()) sentences.push_back("unreadable text");
    for (std::string& sentence : sentences) sentence[0] = absl::ascii_tolower(sentence[0]);
    std::string what = sentences[0];
    if (what == "unexpected end of string") what = "it ends too early";
    if (what == "parsing terminated before end of input") what = "there is more after its end";
    for (size_t i = 1; i < sentences.size(); ++i) absl::StrAppend(&what, " (", sentences[i], ")");
    // The text from the caret on says where; a text with line breaks of its own is not quoted.
    const size_t caret = lines.back().find('^');
    const absl::string_view near =
        lines.size() == 3 && caret < lines[1].size() ? lines[1].substr(caret, 20) : "";
    return {.not_json = true,
            .sentence = near.empty() ? what : absl::StrCat(what, " at \"", near, "\"")};
  }
  const absl::string_view text = absl::StripPrefix(absl::StripAsciiWhitespace(lines[0]), ": ");
  if (text == "Root element must be a message.") {
    return {.sentence = "it must be a JSON object ({...})"};
  }
  // "(spec.model.depth): invalid value "deep" for type TYPE_INT32"
  const size_t close = text.find("): invalid value ");
  const size_t type_at = text.rfind(" for type ");
  if (absl::StartsWith(text, "(") && close != absl::string_view::npos &&
      type_at != absl::string_view::npos && type_at > close) {
    std::string path(text.substr(1, close - 1));
    const absl::string_view value = text.substr(close + 17, type_at - close - 17);
    const absl::string_view type = text.substr(type_at + 10);
    std::string got = absl::StrCat("got ", value);
    if (absl::StartsWith(value, "Starting an object on a scalar field")) {
      path = Joined(path, type);  // the parser names the field where the type goes
      got = "not an object";
    } else if (const size_t time = value.find("Invalid time format: ");
               time != absl::string_view::npos) {
      got = absl::StrCat("got ", value.substr(time + 21));
    }
    bool element = false;
    const pb::FieldDescriptor* field = FieldAt(root, path, element);
    const std::string wrong = got == "not an object" ? ", " + got : " (" + got + ")";
    if (field == nullptr) {
      return {.sentence = absl::StrCat(path, " has a wrong kind of value", wrong)};
    }
    return {.sentence = absl::StrCat(path, " must be ", Expected(*field, element), wrong)};
  }
  // "(spec) modle: Cannot find field." and "owner: Proto field is not repeating, cannot start
  // list.": the parent's path in parentheses (none at the top), then the field's name.
  for (const absl::string_view tail :
       {absl::string_view(": Cannot find field."),
        absl::string_view(": Proto field is not repeating, cannot start list.")}) {
    if (!absl::EndsWith(text, tail)) continue;
    absl::string_view where = text.substr(0, text.size() - tail.size());
    absl::string_view parent;
    if (absl::StartsWith(where, "(")) {
      const size_t end = where.find(") ");
      if (end == absl::string_view::npos) break;
      parent = where.substr(1, end - 1);
      where.remove_prefix(end + 2);
    }
    const std::string name = Joined(parent, where);
    if (tail == ": Cannot find field.") {
      const pb::Descriptor* message = MessageAt(root, parent);
      if (message == nullptr) return {.sentence = absl::StrCat(name, " is not a field")};
      return {.sentence = absl::StrCat(name, " is not a field; ",
                                       parent.empty() ? "the request" : std::string(parent),
                                       " takes ", FieldNames(*message))};
    }
    bool element = false;
    const pb::FieldDescriptor* field = FieldAt(root, name, element);
    if (field == nullptr) return {.sentence = absl::StrCat(name, " must not be a list")};
    return {.sentence = absl::StrCat(name, " must be ", Expected(*field, element), ", not a list")};
  }
  return {.sentence = std::string(absl::StripSuffix(text, "."))};
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
    const pb::FieldDescriptor* field = FieldNamed(descriptor, key);
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
  if (!status.ok()) {
    const ParserProblem explained =
        Explain(ParserMessage(status.message().as_string()), *message.GetDescriptor());
    if (explained.not_json) {
      return absl::InvalidArgumentError(
          absl::StrCat("the request body is not valid JSON: ", explained.sentence, "."));
    }
    problem = absl::StrCat(explained.sentence, ".");
  } else {
    // The parser accepted it, so it is JSON: read again as such to check what it lets pass.
    pb::Value value;
    if (pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), &value).ok()) {
      if (absl::Status s = CheckLists(value, *message.GetDescriptor(), ""); !s.ok()) {
        problem = std::string(s.message());
      }
    }
    if (problem.empty()) return absl::OkStatus();
    message.Clear();
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
    return absl::InvalidArgumentError(absl::StrCat(
        "query parameter ",
        Explain(ParserMessage(status.message().as_string()), descriptor).sentence, "."));
  }
  return absl::OkStatus();
}

}  // namespace ablate::http
