// The health check's hand-encoded messages, checked against protobuf's own encoding of messages
// with the same wire layout (StringValue: string = 1, like HealthCheckRequest; Int32Value:
// int32 = 1, like HealthCheckResponse's enum).
#include "client/health.h"

#include <gtest/gtest.h>

#include <string>

#include "google/protobuf/wrappers.pb.h"

namespace ablate::client {
namespace {

TEST(HealthTest, RequestIsEncodedAsProtobufWould) {
  for (const std::string& service :
       {std::string(), std::string("ablate.v1.Ablation"), std::string(300, 'x')}) {
    google::protobuf::StringValue same_layout;
    same_layout.set_value(service);
    EXPECT_EQ(EncodeHealthCheckRequest(service), same_layout.SerializeAsString()) << service;
  }
}

TEST(HealthTest, ResponseIsDecoded) {
  for (int status : {0, 1, 2, 3}) {
    google::protobuf::Int32Value same_layout;
    same_layout.set_value(status);
    absl::StatusOr<ServingStatus> decoded =
        DecodeHealthCheckResponse(same_layout.SerializeAsString());
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(static_cast<int>(*decoded), status);
  }
  EXPECT_STREQ(ServingStatusName(*DecodeHealthCheckResponse(std::string("\x08\x01", 2))),
               "SERVING");
  // Unknown fields are skipped; an unknown status is UNKNOWN; broken bytes are an error.
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x12\x01x\x08\x02", 5)),
            ServingStatus::kNotServing);
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x08\x07", 2)), ServingStatus::kUnknown);
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x08", 1)).ok());
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x12\x05x", 3)).ok());
}

}  // namespace
}  // namespace ablate::client
