#include "client/health.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <future>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace ablate::client {

namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";

using google::protobuf::internal::WireFormatLite;

}  // namespace

const char* ServingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case ServingStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

std::string EncodeHealthCheckRequest(const std::string& service) {
  if (service.empty()) return "";  // proto3 leaves default values off the wire
  std::string bytes;
  bytes += static_cast<char>(WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
  for (uint64_t n = service.size(); ; n >>= 7) {  // the length, as a varint
    if (n < 0x80) {
      bytes += static_cast<char>(n);
      break;
    }
    bytes += static_cast<char>((n & 0x7f) | 0x80);
  }
  return bytes + service;
}

absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(const std::string& bytes) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  uint32_t status = 0;  // absent: the default, UNKNOWN
  bool parsed = true;
  while (uint32_t tag = in.ReadTag()) {
    parsed = tag == WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT)
                 ? in.ReadVarint32(&status)
                 : WireFormatLite::SkipField(&in, tag);
    if (!parsed) break;
  }
  // ReadTag gives 0 at the end of the bytes and on a malformed tag: only the end is good.
  if (!parsed || in.CurrentPosition() != static_cast<int>(bytes.size())) {
    return absl::InvalidArgumentError("the health check's answer is not a HealthCheckResponse");
  }
  if (status > 3) return ServingStatus::kUnknown;
  return static_cast<ServingStatus>(status);
}

absl::StatusOr<ServingStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                          const std::string& service,
                                          grpc::ClientContext& context) {
  grpc::GenericStub stub(channel);
  const std::string request_bytes = EncodeHealthCheckRequest(service);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, kCheckMethod, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  const grpc::Status status = done.get_future().get();
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) {
    return absl::InternalError("cannot read the health check's answer");
  }
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return DecodeHealthCheckResponse(bytes);
}

}  // namespace ablate::client
