// Fuzzes the HTTP gateway's parsing (server/http/mapping.h) with the bytes of a request body
// and of a URL query, for the request shapes the gateway reads. Nothing may crash (ASan and
// UBSan watch), every refusal must be INVALID_ARGUMENT with a sentence whose error body is JSON
// the gateway can read back, and what is accepted must print as JSON that parses again.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/struct.pb.h"
#include "server/http/mapping.h"

namespace {

using namespace ablate;
namespace pb = google::protobuf;

void Check(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\ninput (%zu bytes): %.*s\n", what, input.size(),
               static_cast<int>(input.size()), input.data());
  std::abort();
}

void CheckRefusal(const absl::Status& status, std::string_view input) {
  Check(status.code() == absl::StatusCode::kInvalidArgument, "a refusal is INVALID_ARGUMENT",
        input);
  Check(!status.message().empty(), "a refusal says why", input);
  pb::Struct body;
  Check(http::JsonToMessage(http::ErrorJson(status), body).ok(), "the error body is JSON", input);
}

// Parses `body` as `message`; what is accepted prints and parses again.
void Body(std::string_view body, pb::Message& message) {
  const absl::Status status = http::JsonToMessage(body, message);
  if (!status.ok()) return CheckRefusal(status, body);
  std::unique_ptr<pb::Message> again(message.New());
  Check(http::JsonToMessage(http::MessageToJson(message), *again).ok(),
        "an accepted body prints as JSON that parses again", body);
}

// "k=v&k2=v2" into the multimap the HTTP server hands the gateway (already percent-decoded).
std::multimap<std::string, std::string> SplitQuery(std::string_view query) {
  std::multimap<std::string, std::string> params;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    const size_t equals = pair.find('=');
    params.emplace(std::string(pair.substr(0, equals)),
                   equals == std::string_view::npos ? "" : std::string(pair.substr(equals + 1)));
    start = end + 1;
  }
  return params;
}

void Query(std::string_view query, const std::set<std::string>& reserved, pb::Message& message) {
  const absl::Status status = http::QueryToMessage(SplitQuery(query), reserved, message);
  if (!status.ok()) return CheckRefusal(status, query);
  std::unique_ptr<pb::Message> again(message.New());
  Check(http::JsonToMessage(http::MessageToJson(message), *again).ok(),
        "an accepted query prints as JSON that parses again", query);
}

}  // namespace

// Protobuf logs every string that is not UTF-8 it parses; thousands a second would bury the
// fuzzer's own output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // Protobuf's JSON parser allocates heavily (a few ms an input under ASan), so each input goes
  // through a few shapes rather than every request type: the request body the gateway parses
  // (POST /api/v1/jobs), a message with lists, enums and timestamps, and one with nested
  // repeated messages, 64-bit integers and non-finite floats.
  v1::SubmitJobRequest submit;
  Body(input, submit);
  v1::ListJobsRequest list;
  Body(input, list);
  v1::JobUpdate update;
  Body(input, update);

  // URL queries (every endpoint's goes through QueryToMessage), with the path's fields
  // reserved as the gateway reserves them.
  if (input.find('=') != std::string_view::npos) {
    Query(input, {}, list);
    v1::WatchJobRequest watch;
    Query(input, {"job_id"}, watch);
  }
  return 0;
}
