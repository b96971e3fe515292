#include "client/rpc_errors.h"

#include <grpcpp/support/status.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ablate::client {
namespace {

const CallSite kSite{"127.0.0.1:50051", absl::Seconds(10)};

TEST(DescribeRpcError, UnreachableServerNamesTheAddress) {
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: UNKNOWN: "
                            "ipv4:127.0.0.1:50051: Failed to connect to remote host: Connection "
                            "refused");
  EXPECT_EQ(DescribeRpcError(status, kSite),
            "cannot reach the Ablate server at 127.0.0.1:50051 (is ablate-server running?)");
}

TEST(DescribeRpcError, UnresolvableHostSaysSo) {
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                            "DNS resolution failed for nosuch.invalid:50051: C-ares status is "
                            "not ARES_SUCCESS");
  EXPECT_EQ(DescribeRpcError(status, {"nosuch.invalid:50051", absl::Seconds(10)}),
            "cannot reach the Ablate server at nosuch.invalid:50051: its host name does not "
            "resolve");
}

// The details below are what gRPC 1.51 reports for each TLS mismatch.
TEST(DescribeRpcError, PlaintextClientOfATlsServerIsToldToAddTls) {
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: UNAVAILABLE: "
                            "ipv4:127.0.0.1:50051: Socket closed");
  EXPECT_EQ(DescribeRpcError(status, kSite),
            "the Ablate server at 127.0.0.1:50051 closed the connection (if it serves TLS, i.e. "
            "was started with --tls-cert, add --tls-ca FILE or --tls)");
}

// A connection that breaks once the call is under way is a server that went away, not TLS.
TEST(DescribeRpcError, AConnectionBrokenDuringACallIsNotATlsMismatch) {
  EXPECT_EQ(DescribeRpcError(grpc::Status(grpc::StatusCode::UNAVAILABLE, "Socket closed"), kSite),
            "the connection to the Ablate server at 127.0.0.1:50051 broke during the request "
            "(did the server stop or restart?)");
  EXPECT_EQ(DescribeRpcError(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                          "the server is shutting down; submit the job again "
                                          "shortly."),
                             kSite),
            "the Ablate server at 127.0.0.1:50051 is unavailable: the server is shutting down; "
            "submit the job again shortly");
}

// gRPC's words for an HTTP/1.1 answer: the server's --http port given as --server.
TEST(DescribeRpcError, TheWebPortIsNamedAsSuch) {
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: INTERNAL: "
                            "ipv4:127.0.0.1:8080: Trying to connect an http1.x server");
  EXPECT_EQ(DescribeRpcError(status, {"127.0.0.1:8080", absl::Seconds(10)}),
            "the address 127.0.0.1:8080 answers HTTP/1.1, not gRPC: it is an Ablate server's "
            "web port (--http); give --server its gRPC address (--listen)");
}

TEST(DescribeRpcError, UntrustedCertificateNamesTlsCa) {
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: UNKNOWN: "
                            "ipv4:127.0.0.1:50051: Ssl handshake failed: SSL_ERROR_SSL: "
                            "error:0A000086:SSL routines::certificate verify failed");
  EXPECT_EQ(DescribeRpcError(status, {"127.0.0.1:50051", absl::Seconds(10), true}),
            "the Ablate server at 127.0.0.1:50051 has a TLS certificate this client does not "
            "trust (give the certificate that signs it with --tls-ca FILE or ABLATE_TLS_CA)");
}

TEST(DescribeRpcError, CertificateForAnotherNameSaysSo) {
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: UNKNOWN: "
                            "ipv4:127.0.0.1:50051: Peer name localhost is not in peer certificate");
  EXPECT_EQ(DescribeRpcError(status, {"localhost:50051", absl::Seconds(10), true}),
            "the TLS certificate of the Ablate server at localhost:50051 is not for that name "
            "(give --server a host name or IP address its certificate lists)");
}

TEST(DescribeRpcError, TlsClientOfAPlaintextServerIsToldToDropTls) {
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: UNKNOWN: "
                            "ipv4:127.0.0.1:50051: Ssl handshake failed: SSL_ERROR_SSL: "
                            "error:0A00010B:SSL routines::wrong version number");
  EXPECT_EQ(DescribeRpcError(status, {"127.0.0.1:50051", absl::Seconds(10), true}),
            "cannot talk TLS with the Ablate server at 127.0.0.1:50051 (was it started with "
            "--tls-cert? if not, drop --tls and --tls-ca)");
}

TEST(DescribeRpcError, DeadlineNamesTheTimeoutAndTheFlag) {
  const grpc::Status status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
  EXPECT_EQ(DescribeRpcError(status, {"lab:50051", absl::Milliseconds(2500)}),
            "the Ablate server at lab:50051 did not answer within 2.5 s (raise --timeout if it "
            "is busy)");
}

TEST(DescribeRpcError, UnauthenticatedSaysHowToPassAToken) {
  const grpc::Status missing(grpc::StatusCode::UNAUTHENTICATED, "this server needs a token");
  EXPECT_EQ(DescribeRpcError(missing, kSite),
            "the server at 127.0.0.1:50051 needs a token: pass --token or set ABLATE_TOKEN (your "
            "instructor issues tokens)");
  const grpc::Status revoked(grpc::StatusCode::UNAUTHENTICATED,
                             "the token is not valid (mistyped, or revoked).");
  EXPECT_EQ(DescribeRpcError(revoked, {.server = "lab:50051", .has_token = true}),
            "the server at lab:50051 did not accept the token: the token is not valid "
            "(mistyped, or revoked)");
}

TEST(DescribeRpcError, InvalidArgumentKeepsTheServersSentence) {
  const grpc::Status status(grpc::StatusCode::INVALID_ARGUMENT,
                            "training.lr must be in (0, 10], got 20.");
  EXPECT_EQ(DescribeRpcError(status, kSite),
            "the server refused the request: training.lr must be in (0, 10], got 20");
}

TEST(DescribeRpcError, NotFoundAndPreconditionKeepTheMessage) {
  EXPECT_EQ(
      DescribeRpcError(grpc::Status(grpc::StatusCode::NOT_FOUND, "there is no job 99"), kSite),
      "not found: there is no job 99");
  // The server's own "not found" is not said twice.
  EXPECT_EQ(
      DescribeRpcError(grpc::Status(grpc::StatusCode::NOT_FOUND, "job 999 not found"), kSite),
      "job 999 not found");
  EXPECT_EQ(
      DescribeRpcError(
          grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "job 3 has not finished"), kSite),
      "not possible yet: job 3 has not finished");
}

TEST(DescribeRpcError, EmptyServerMessageLeavesNoDanglingColon) {
  EXPECT_EQ(DescribeRpcError(grpc::Status(grpc::StatusCode::INTERNAL, ""), kSite),
            "the server failed");
  EXPECT_EQ(DescribeRpcError(grpc::Status(grpc::StatusCode::UNKNOWN, "boom"), kSite),
            "the server failed: boom");
}

TEST(DescribeRpcError, UnimplementedPointsAtAVersionMismatch) {
  EXPECT_EQ(DescribeRpcError(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""), kSite),
            "the server at 127.0.0.1:50051 does not support this request (is it an Ablate "
            "server of the same version?)");
}

TEST(DescribeRpcError, MultiLineServerMessagesBecomeOneLine) {
  const grpc::Status status(grpc::StatusCode::INVALID_ARGUMENT, "  runs[3].init:\nunknown\n");
  EXPECT_EQ(DescribeRpcError(status, kSite),
            "the server refused the request: runs[3].init: unknown");
}

TEST(ToAbslStatus, KeepsTheCode) {
  const absl::Status status =
      ToAbslStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no run 5"), kSite);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "not found: no run 5");
  EXPECT_TRUE(ToAbslStatus(grpc::Status::OK, kSite).ok());
}

TEST(OneLine, TrimsAndJoins) {
  EXPECT_EQ(OneLine("a\nb\r\nc."), "a b  c");
  EXPECT_EQ(OneLine("  wait...  "), "wait...");
  EXPECT_EQ(OneLine(""), "");
}

}  // namespace
}  // namespace ablate::client
