// The HTTP front door's limits (and the gRPC port's) against a real ablate-server, each as an
// attacker (or a careless script) would meet it, over raw sockets so that the client does
// exactly what the case needs: bodies over the limit with Content-Length and chunked, a gigabyte
// of chunked body without a token, a megabyte of nested JSON, headers that trickle in (one
// connection, and 500 of them at once), too many connections from one address, SIGTERM with all
// of that in flight, and gRPC connections that never make a call.
//
// Each test starts its own server with the limits it tests set small, so that it runs in
// seconds. ABLATE_SERVER_BINARY in the environment runs the tests against another build.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/support/raw_http.h"
#include "tests/support/server_process.h"

namespace ablate {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test_support::Socket;
using test_support::StatusOf;

std::string ServerBinary() {
  const char* override_binary = std::getenv("ABLATE_SERVER_BINARY");
  return override_binary != nullptr ? override_binary : ABLATE_SERVER_BINARY;
}

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string Get(const std::string& path) {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
}

class HttpLimitsTest : public testing::Test {
 protected:
  void StartServer(std::vector<std::string> args,
                   std::vector<std::vector<std::string>> admin = {}) {
    const std::string error = server_.Start({.binary = ServerBinary(),
                                             .workers = 1,
                                             .http = true,
                                             .extra_args = std::move(args),
                                             .admin = std::move(admin)});
    ASSERT_EQ(error, "");
    port_ = server_.http_port();
  }

  // One request on a new connection; the response, or empty after `wait`.
  std::string Ask(const std::string& request, std::chrono::milliseconds wait = 5000ms) {
    Socket socket(port_);
    if (!socket.ok() || !socket.Send(request)) return "";
    return socket.ReadResponse(wait);
  }

  bool Healthy(std::chrono::milliseconds wait = 2000ms) {
    return StatusOf(Ask(Get("/healthz"), wait)) == 200;
  }

  test_support::ServerProcess server_;
  int port_ = 0;
};

TEST_F(HttpLimitsTest, BodyOverTheLimitIs413WithContentLengthAndChunked) {
  StartServer({"--http-max-body-bytes", "1000"});
  const std::string post =
      "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
  // Announced too large: refused from the headers, before any of the body is sent.
  std::string response = Ask(absl::StrCat(post, "Content-Length: 2000\r\n\r\n"));
  EXPECT_EQ(StatusOf(response), 413) << response;
  EXPECT_NE(response.find("larger than the limit of 1000 bytes (--http-max-body-bytes)"),
            std::string::npos)
      << response;

  // Chunked, in pieces that are each under the limit but not together.
  std::string chunked = absl::StrCat(post, "Transfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 4; ++i) absl::StrAppend(&chunked, "190\r\n", std::string(400, ' '), "\r\n");
  absl::StrAppend(&chunked, "0\r\n\r\n");
  response = Ask(chunked);
  EXPECT_EQ(StatusOf(response), 413) << response;
  EXPECT_NE(response.find("--http-max-body-bytes"), std::string::npos) << response;

  // Under the limit, chunked or not, the body reaches the API (which refuses it as no job).
  for (const std::string& body :
       {absl::StrCat(post, "Content-Length: 7\r\n\r\n{\"x\":1}"),
        absl::StrCat(post, "Transfer-Encoding: chunked\r\n\r\n7\r\n{\"x\":1}\r\n0\r\n\r\n")}) {
    response = Ask(body);
    EXPECT_EQ(StatusOf(response), 400) << response;
    EXPECT_NE(response.find("not a valid SubmitJobRequest"), std::string::npos) << response;
  }
  EXPECT_TRUE(Healthy());
}

// A client that announces its body with Expect: 100-continue (curl does, for large bodies) is
// told to go on, sends it, and gets the API's answer; an announced body over the limit is
// refused at once, without the 100.
TEST_F(HttpLimitsTest, ExpectContinueIsAnsweredBeforeTheBody) {
  StartServer({"--http-max-body-bytes", "1000"});
  const std::string head =
      "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\n";
  Socket socket(port_);
  ASSERT_TRUE(socket.ok());
  ASSERT_TRUE(socket.Send(absl::StrCat(head, "Content-Length: 7\r\n\r\n")));
  std::string interim;
  while (interim.find("\r\n\r\n") == std::string::npos && socket.Readable(2000ms)) {
    char byte;
    if (::recv(socket.fd(), &byte, 1, 0) != 1) break;
    interim += byte;
  }
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(socket.Send("{\"x\":1}"));
  const std::string response = socket.ReadResponse(5000ms);
  EXPECT_EQ(StatusOf(response), 400) << response;
  EXPECT_NE(response.find("not a valid SubmitJobRequest"), std::string::npos) << response;

  const std::string refused = Ask(absl::StrCat(head, "Content-Length: 2000\r\n\r\n"));
  EXPECT_EQ(StatusOf(refused), 413) << refused;
}

TEST_F(HttpLimitsTest, HeadersOverTheLimitAre431) {
  StartServer({"--http-max-header-bytes", "2048"});
  const std::string response = Ask(
      absl::StrCat("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ", std::string(4000, 'x'),
                   "\r\n\r\n"));
  EXPECT_EQ(StatusOf(response), 431) << response;
  EXPECT_NE(response.find("--http-max-header-bytes"), std::string::npos) << response;
  EXPECT_TRUE(Healthy());
}

// A chunked body's trailer: Beast bounds neither its size nor (past 64 KiB) survives a field of
// it, and merges its fields into the headers. Measured before: one 66,000-byte trailer field
// ended the process on default flags, 1,500 of 60,000 bytes held 86 MiB, and a token or a
// Content-Type in the trailer was used as if it were a header.
TEST_F(HttpLimitsTest, ChunkedTrailersAreBoundedAndNeverReadAsHeaders) {
  StartServer({});
  const std::string get =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  std::string response = Ask(absl::StrCat(get, "X: ", std::string(66000, 'a'), "\r\n\r\n"));
  EXPECT_EQ(StatusOf(response), 431) << response.substr(0, 300);
  EXPECT_NE(response.find("trailer"), std::string::npos) << response.substr(0, 300);
  EXPECT_TRUE(Healthy());

  std::string many = get;
  for (int i = 0; i < 20; ++i) absl::StrAppend(&many, "X-", i, ": ", std::string(6000, 'a'), "\r\n");
  response = Ask(absl::StrCat(many, "\r\n"));
  EXPECT_EQ(StatusOf(response), 431) << response.substr(0, 300);

  response = Ask(
      "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\nContent-Type: application/json\r\n\r\n");
  EXPECT_EQ(StatusOf(response), 400) << response;
  EXPECT_NE(response.find("trailer fields"), std::string::npos) << response;
  EXPECT_TRUE(Healthy());
}

// The routes are matched with std::regex, which recurses per character: a path of 28,000
// characters (within a raised header limit) overflowed an I/O thread's stack.
TEST_F(HttpLimitsTest, AVeryLongPathIsNotFoundAndTheServerStaysUp) {
  StartServer({"--http-max-header-bytes", "65535"});
  const std::string response = Ask(absl::StrCat("GET /api/v1/jobs/", std::string(60000, 'a'),
                                                " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  EXPECT_EQ(StatusOf(response), 404) << response.substr(0, 300);
  EXPECT_TRUE(Healthy());
}

// A gigabyte of chunked body, offered without a token to a server that requires one: the
// server must stop reading at the body limit, before it looks at the token, and hold no more
// than that limit of it. (Measured before: 2.1 GB of the server's memory, then a 401.)
TEST_F(HttpLimitsTest, GigabyteChunkedBodyWithoutATokenIsRefusedAtTheLimit) {
  StartServer({}, {{"add-class", "cs101", "--instructor", "carol"}});
  // The server loads its drawing libraries and fonts in the background as it starts (several
  // MB): the growth measured must be the request's alone.
  for (int i = 0; i < 200 && server_.Log().find("figures ready") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_NE(server_.Log().find("figures ready"), std::string::npos) << server_.Log();
  const long rss_before_kb = server_.StatusKb("VmRSS");
  ASSERT_GT(rss_before_kb, 0);

  Socket socket(port_);
  ASSERT_TRUE(socket.ok());
  ASSERT_TRUE(socket.Send(
      "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = absl::StrCat("10000\r\n", std::string(1 << 16, '['), "\r\n");
  constexpr int64_t kOffered = int64_t{1} << 30;
  int64_t sent = 0;
  while (sent < kOffered && !socket.Readable()) {
    if (!socket.Send(chunk)) break;  // the server closed: its answer is waiting
    sent += 1 << 16;
  }
  const std::string response = socket.ReadResponse(5000ms);
  const long rss_after_kb = server_.StatusKb("VmRSS");
  EXPECT_EQ(StatusOf(response), 413) << response.substr(0, 300);
  EXPECT_NE(response.find("--http-max-body-bytes"), std::string::npos) << response.substr(0, 300);
  EXPECT_LT(sent, kOffered / 16) << "the server read far past its limit";
  EXPECT_LT(rss_after_kb - rss_before_kb, 16 * 1024)
      << "server RSS grew from " << rss_before_kb << " kB to " << rss_after_kb << " kB";
  EXPECT_TRUE(Healthy());
}

// A megabyte of nested arrays where the API takes a list of messages: protobuf's JSON parser
// took minutes on it (20,000 levels, 40 KB, already over a minute: its time grows faster than
// linearly with the nesting). The depth check refuses it in one pass over the bytes. The
// bound is on a pathological input, not a speed test: the server has nothing else to do, the
// request is measured from its first byte sent to its answer received, and of three tries the
// quickest counts, so that a busy machine's scheduling does not decide the result.
TEST_F(HttpLimitsTest, MegabyteOfNestedJsonIsRefusedAtOnce) {
  StartServer({});
  const std::string body = absl::StrCat(R"({"spec":{"runs":)", std::string(500'000, '['),
                                        std::string(500'000, ']'), "}}");
  const std::string request = absl::StrCat(
      "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: ",
      body.size(), "\r\n\r\n", body);
  double quickest_ms = 1e9;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Socket socket(port_);
    ASSERT_TRUE(socket.ok());
    const auto start = Clock::now();
    ASSERT_TRUE(socket.Send(request));
    const std::string response = socket.ReadResponse(5000ms);
    quickest_ms = std::min(quickest_ms, MillisSince(start));
    ASSERT_EQ(StatusOf(response), 400) << response.substr(0, 300);
    EXPECT_NE(response.find("more than 32 levels deep, the limit (--http-max-json-depth)"),
              std::string::npos)
        << response;
  }
  EXPECT_LT(quickest_ms, 100) << "the nested body was answered after " << quickest_ms << " ms";
  std::printf("a 1 MB nested JSON body was answered 400 in %.1f ms\n", quickest_ms);
  EXPECT_TRUE(Healthy());
}

TEST_F(HttpLimitsTest, HeadersThatTrickleInAre408AtTheDeadline) {
  StartServer({"--http-header-timeout", "1"});
  Socket slow(port_);
  ASSERT_TRUE(slow.ok());
  ASSERT_TRUE(slow.Send("GET /healthz HTTP/1.1\r\n"));
  const auto start = Clock::now();
  // A header line every 300 ms: each arrives well within a second of the last one, but the
  // headers never end.
  while (!slow.Readable(300ms) && MillisSince(start) < 5000) {
    if (!slow.Send("X-Slow: yes\r\n")) break;
  }
  const std::string response = slow.ReadResponse(1000ms);
  const double ended_ms = MillisSince(start);
  EXPECT_EQ(StatusOf(response), 408) << response;
  EXPECT_NE(response.find("within 1 s, the limit (--http-header-timeout)"), std::string::npos)
      << response;
  EXPECT_LT(ended_ms, 3000);

  // A connection that sends nothing is closed quietly at the same deadline.
  Socket idle(port_);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle.ReadAll(3000ms), "");
  EXPECT_FALSE(idle.Send("GET /healthz HTTP/1.1\r\n\r\n") && !idle.ReadAll(500ms).empty());
  EXPECT_TRUE(Healthy());
}

// Header bytes that never pause: a read completes every millisecond or so, and the deadline
// must still end every connection, not only those whose read it finds pending (a read that had
// just completed when the deadline passed once let its connection escape the deadline for
// good: one of the 500 below, now and then).
TEST_F(HttpLimitsTest, HeadersThatNeverPauseAre408AtTheDeadline) {
  StartServer({"--http-header-timeout", "1"});
  constexpr int kConnections = 200;
  std::vector<Socket> trickle;
  for (int i = 0; i < kConnections; ++i) {
    trickle.emplace_back(port_);
    ASSERT_TRUE(trickle.back().ok()) << "connection " << i;
    ASSERT_TRUE(trickle.back().Send("GET /healthz HTTP/1.1\r\nX-Trickle: "));
  }
  // A byte to each about every millisecond, until the server answers it; 4 s is 4,000 bytes at
  // most, under the header limit.
  std::vector<bool> answered(kConnections, false);
  int waiting = kConnections;
  const auto start = Clock::now();
  while (waiting > 0 && MillisSince(start) < 4000) {
    for (int i = 0; i < kConnections; ++i) {
      if (!answered[i] && (trickle[i].Readable() || !trickle[i].Send("a"))) {
        answered[i] = true;
        --waiting;
      }
    }
    std::this_thread::sleep_for(1ms);
  }
  for (int i = 0; i < kConnections; ++i) {
    EXPECT_EQ(StatusOf(trickle[i].ReadResponse(1000ms)), 408) << "connection " << i;
  }
}

// 500 connections sending one header line every 2 s (slowloris): before, 70 of them held every
// connection thread and nothing else was answered.
TEST_F(HttpLimitsTest, FiveHundredSlowlorisConnectionsLeaveHealthzAnswering) {
  StartServer({"--http-header-timeout", "4", "--http-max-connections-per-address", "1000"});
  std::vector<Socket> slow;
  for (int i = 0; i < 500; ++i) {
    Socket socket(port_);
    ASSERT_TRUE(socket.ok()) << "connection " << i;
    ASSERT_TRUE(socket.Send("GET / HTTP/1.1\r\n"));
    slow.push_back(std::move(socket));
  }
  const auto start = Clock::now();
  auto next_line = start + 2s;
  int answered = 0, asked = 0;
  std::vector<bool> ended(slow.size(), false);
  while (Clock::now() - start < 7s) {
    ++asked;
    if (Healthy(1000ms)) ++answered;
    if (Clock::now() >= next_line) {
      next_line += 2s;
      for (size_t i = 0; i < slow.size(); ++i) {
        if (!ended[i] && (slow[i].Readable() || !slow[i].Send("X-Slow: yes\r\n"))) ended[i] = true;
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(answered, asked) << "/healthz went unanswered while slowloris connections were open";
  // By now (7 s) every one of them has met the 4 s header deadline.
  int refused = 0;
  std::string others;  // what the rest got, for the failure message
  for (size_t i = 0; i < slow.size(); ++i) {
    const std::string response = slow[i].ReadResponse(1000ms);
    if (StatusOf(response) == 408) {
      ++refused;
    } else if (others.size() < 2000) {
      others += "\n  connection " + std::to_string(i) + ": " +
                (response.empty() ? "nothing" : response.substr(0, response.find('\r')));
    }
  }
  EXPECT_EQ(refused, 500) << others;
}

TEST_F(HttpLimitsTest, ConnectionsBeyondThePerAddressCapGet429) {
  StartServer({"--http-max-connections-per-address", "4"});
  std::vector<Socket> held;
  for (int i = 0; i < 4; ++i) {
    held.emplace_back(port_);
    ASSERT_TRUE(held.back().ok());
  }
  // Each of the four is accepted and waits for its request; the fifth is refused.
  std::string response;
  for (int attempt = 0; attempt < 50 && StatusOf(response) != 429; ++attempt) {
    response = Ask(Get("/healthz"), 2000ms);
    if (StatusOf(response) != 429) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(StatusOf(response), 429) << response;
  EXPECT_NE(response.find("Retry-After: 5"), std::string::npos) << response;
  EXPECT_NE(response.find("--http-max-connections-per-address"), std::string::npos) << response;

  // A place frees as soon as a connection closes.
  held.pop_back();
  bool answered = false;
  for (int attempt = 0; attempt < 100 && !answered; ++attempt) {
    answered = Healthy(1000ms);
    if (!answered) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(answered);
}

// SIGTERM stops the server within 10 s whatever it is doing: event streams open, headers
// trickling in, a body arriving, a nested body being refused.
TEST_F(HttpLimitsTest, SigtermStopsTheServerWithinTenSecondsWhateverIsInFlight) {
  StartServer({});
  // A job that trains until it is stopped, and 200 browsers watching it.
  const std::string submit_body =
      R"({"spec":{"training":{"steps":100000},"runs":[{"init":"kaiming"}]}})";
  const std::string submitted = Ask(absl::StrCat(
      "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: ",
      submit_body.size(), "\r\n\r\n", submit_body));
  ASSERT_EQ(StatusOf(submitted), 200) << submitted;
  const size_t id_at = submitted.find("\"id\":\"");
  ASSERT_NE(id_at, std::string::npos) << submitted;
  const std::string job_id =
      submitted.substr(id_at + 6, submitted.find('"', id_at + 6) - id_at - 6);
  std::vector<Socket> open;
  for (int i = 0; i < 200; ++i) {
    open.emplace_back(port_);
    ASSERT_TRUE(open.back().Send(Get(absl::StrCat("/api/v1/jobs/", job_id, "/events"))));
  }
  for (int i = 0; i < 20; ++i) {
    open.emplace_back(port_);
    ASSERT_TRUE(open.back().Send("GET /healthz HTTP/1.1\r\nX-Slow: "));
  }
  open.emplace_back(port_);
  ASSERT_TRUE(
      open.back().Send("POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100000\r\n\r\n{\"spec\":"));
  ASSERT_TRUE(open[0].Readable(5000ms)) << "the first stream did not start";

  const auto start = Clock::now();
  const std::optional<int> status = server_.Stop(std::chrono::seconds(10));
  // The log times each phase of the stop ("stopped in N ms (runs .., HTTP .., ...)").
  ASSERT_TRUE(status.has_value()) << "the server had to be killed after 10 s:\n" << server_.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << server_.Log();
  std::printf("the server stopped %.0f ms after SIGTERM\n", MillisSince(start));
}

// The gRPC port's connections (README, "gRPC limits"), over raw sockets: one that never sends
// HTTP/2's preface is closed at --grpc-handshake-timeout, one that sends it and then makes no
// call is closed (GOAWAY) at --grpc-idle-timeout, and the server's settings cap the calls one
// connection may have open. Before, both kinds lasted for as long as the client liked (19,500
// idle ones held 360 MB of the server's memory and all but 500 of its files), and a connection's
// calls had no cap.
using GrpcLimitsTest = HttpLimitsTest;

struct Http2Frame {
  int type = 0;
  std::string payload;
};

// The frames in what a server sent (it sends no preface of its own).
std::vector<Http2Frame> Frames(const std::string& bytes) {
  std::vector<Http2Frame> frames;
  size_t at = 0;
  while (at + 9 <= bytes.size()) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[at + i]); };
    const size_t length = (size_t{byte(0)} << 16) | (size_t{byte(1)} << 8) | byte(2);
    if (at + 9 + length > bytes.size()) break;
    frames.push_back({byte(3), bytes.substr(at + 9, length)});
    at += 9 + length;
  }
  return frames;
}

// SETTINGS_MAX_CONCURRENT_STREAMS (0x3) of the server's SETTINGS frames; -1 when not sent.
int64_t MaxConcurrentStreams(const std::vector<Http2Frame>& frames) {
  for (const Http2Frame& frame : frames) {
    if (frame.type != 0x4) continue;
    for (size_t i = 0; i + 6 <= frame.payload.size(); i += 6) {
      const auto byte = [&](size_t j) {
        return static_cast<int64_t>(static_cast<unsigned char>(frame.payload[i + j]));
      };
      if ((byte(0) << 8 | byte(1)) == 0x3) {
        return byte(2) << 24 | byte(3) << 16 | byte(4) << 8 | byte(5);
      }
    }
  }
  return -1;
}

bool HasGoaway(const std::vector<Http2Frame>& frames) {
  for (const Http2Frame& frame : frames) {
    if (frame.type == 0x7) return true;
  }
  return false;
}

TEST_F(GrpcLimitsTest, ConnectionsThatDoNothingAreClosedAndCallsPerConnectionAreCapped) {
  StartServer({"--grpc-handshake-timeout", "1", "--grpc-idle-timeout", "2",
               "--grpc-max-streams-per-connection", "7"});
  const int port = server_.grpc_port();

  Socket silent(port);
  ASSERT_TRUE(silent.ok());
  auto start = Clock::now();
  const std::string to_silent = silent.ReadAll(10s);
  const double silent_ms = MillisSince(start);
  EXPECT_GT(silent_ms, 800);
  EXPECT_LT(silent_ms, 5000) << "the silent connection was still open";
  EXPECT_TRUE(HasGoaway(Frames(to_silent)));

  // The client's preface and an empty SETTINGS frame, and then nothing.
  Socket idle(port);
  ASSERT_TRUE(idle.ok());
  ASSERT_TRUE(idle.Send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                        std::string("\0\0\0\x04\0\0\0\0\0", 9)));
  start = Clock::now();
  const std::vector<Http2Frame> to_idle = Frames(idle.ReadAll(10s));
  const double idle_ms = MillisSince(start);
  EXPECT_GT(idle_ms, 1500) << "closed before its idle timeout";
  EXPECT_LT(idle_ms, 6000) << "the idle connection was still open";
  EXPECT_TRUE(HasGoaway(to_idle));
  EXPECT_EQ(MaxConcurrentStreams(to_idle), 7);
  EXPECT_TRUE(Healthy());
}

}  // namespace
}  // namespace ablate
