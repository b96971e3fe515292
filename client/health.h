// `ablate health`: the standard gRPC health check (grpc.health.v1.Health/Check), which
// ablate-server answers through gRPC's built-in health service; what a container's
// HEALTHCHECK or a load balancer calls.
//
// The call goes through gRPC's generic stub with its two one-field messages encoded here
// (HealthCheckRequest: string service = 1; HealthCheckResponse: enum status = 1), so the
// client needs no generated code for a protocol it uses this little.
#ifndef ABLATE_CLIENT_HEALTH_H_
#define ABLATE_CLIENT_HEALTH_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ablate::client {

// HealthCheckResponse.ServingStatus.
enum class ServingStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// "SERVING", "NOT_SERVING", ... as the protocol names them; "UNKNOWN" for values outside it.
const char* ServingStatusName(ServingStatus status);

// The wire bytes of HealthCheckRequest{service}.
std::string EncodeHealthCheckRequest(const std::string& service);
// HealthCheckResponse's status from its wire bytes; InvalidArgument when they are not one.
absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(const std::string& bytes);

// Calls Check for `service` ("" means the server as a whole) within `context`'s deadline.
// The call's error as gRPC reports it (e.g. UNAVAILABLE: nothing listens).
absl::StatusOr<ServingStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                          const std::string& service,
                                          grpc::ClientContext& context);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_HEALTH_H_
