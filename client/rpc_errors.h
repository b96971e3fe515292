// Turning a failed gRPC call into the one sentence a person reads.
//
// The CLI prints every error as one line, `ablate: <sentence>`. For failures the server decided
// (INVALID_ARGUMENT, NOT_FOUND, ...) the sentence keeps the server's own message, which names
// the field and its allowed range; for failures of the connection (UNAVAILABLE,
// DEADLINE_EXCEEDED) it says which address could not be reached and what to try.
#ifndef ABLATE_CLIENT_RPC_ERRORS_H_
#define ABLATE_CLIENT_RPC_ERRORS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ablate::client {

// Where a call went and how long it was allowed to take, for the wording of errors.
struct CallSite {
  std::string server;  // "host:port", as the user gave it
  absl::Duration timeout = absl::Seconds(10);
  bool tls = false;  // the call went over TLS (--tls)
  bool has_token = false;  // whether the call carried a token (--token or ABLATE_TOKEN)
};

// The sentence for a failed call, without the "ablate: " prefix and without a trailing period.
// The server's message is kept (on one line); the code decides the words around it.
// Requires: !status.ok().
std::string DescribeRpcError(const grpc::Status& status, const CallSite& site);

// DescribeRpcError as an absl::Status with the same code, so callers can still branch on
// the code (e.g. NOT_FOUND) after the wording is done. OK stays OK.
absl::Status ToAbslStatus(const grpc::Status& status, const CallSite& site);

// `text` on one line: line breaks become spaces, surrounding whitespace and one trailing
// period are dropped.
std::string OneLine(absl::string_view text);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_RPC_ERRORS_H_
