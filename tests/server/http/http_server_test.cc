// The event-driven HTTP server on its own, with test handlers, over raw sockets: a reply from
// another thread, keep-alive, a stream fed from another thread with its heartbeat, its end from
// either side, a handler that drops its request, and Stop with a request still held.
#include "server/http/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/http/mapping.h"
#include "tests/support/raw_http.h"

namespace ablate::http {
namespace {

using namespace std::chrono_literals;
using test_support::Socket;
using test_support::StatusOf;

class HttpServerTest : public testing::Test {
 protected:
  void SetUp() override { Start(ServerLimits{}); }

  void Start(ServerLimits limits) {
    server_ = std::make_unique<HttpServer>(
        ServerOptions{.io_threads = 2, .limits = limits, .tls_cert_file = "", .tls_key_file = ""},
        [this](Request request, Responder respond) { Handle(std::move(request), respond); },
        [](const absl::Status& status) { return ErrorJson(status); });
    absl::StatusOr<int> port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }

  // The server again, with `write_timeout` instead of the default.
  void RestartWithWriteTimeout(std::chrono::milliseconds write_timeout) {
    server_->Stop();
    ServerLimits limits;
    limits.write_timeout = write_timeout;
    Start(limits);
  }

  // Asks for /stream on `socket`; the stream its handler opened, or null.
  std::shared_ptr<ResponseStream> OpenStream(Socket& socket) {
    if (!socket.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")) return nullptr;
    return Stream();
  }

  void Handle(Request request, Responder respond) {
    if (request.path == "/later") {
      // Answered from another thread, as the gateway's pool does.
      std::thread([request, respond] {
        std::this_thread::sleep_for(20ms);
        respond.Reply(Response{200, "text/plain", "later " + request.query.find("x")->second});
      }).detach();
    } else if (request.path == "/stream") {
      std::shared_ptr<ResponseStream> stream =
          respond.Stream(Response{200, "text/event-stream", ""},
                         StreamOptions{.heartbeat = ": tick\n\n", .heartbeat_after = 100ms});
      stream->OnEnd([this] { ended_ = true; });
      std::lock_guard lock(mutex_);
      stream_ = stream;
    } else if (request.path == "/held") {
      std::lock_guard lock(mutex_);
      held_ = std::make_unique<Responder>(respond);
    } else if (request.path == "/dropped") {
      // Not answered at all: the client must still get a response.
    } else {
      respond.Reply(Response{200, "text/plain", "echo " + request.method + " " + request.body});
    }
  }

  std::shared_ptr<ResponseStream> Stream() {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lock(mutex_);
        if (stream_ != nullptr) return stream_;
      }
      std::this_thread::sleep_for(5ms);
    }
    return nullptr;
  }

  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::mutex mutex_;
  std::shared_ptr<ResponseStream> stream_;  // guarded by mutex_
  std::unique_ptr<Responder> held_;         // guarded by mutex_
  std::atomic<bool> ended_{false};
};

TEST_F(HttpServerTest, RepliesFromAnotherThreadAndKeepsTheConnectionAlive) {
  Socket socket(port_);
  ASSERT_TRUE(socket.ok());
  ASSERT_TRUE(socket.Send("GET /later?x=a%20b HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string response = socket.ReadResponse(2000ms);
  EXPECT_EQ(StatusOf(response), 200) << response;
  EXPECT_TRUE(absl::EndsWith(response, "later a b")) << response;
  ASSERT_TRUE(socket.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
  response = socket.ReadResponse(2000ms);
  EXPECT_TRUE(absl::EndsWith(response, "echo POST abc")) << response;
  EXPECT_EQ(server_->OpenConnections(), 1);
}

TEST_F(HttpServerTest, AStreamCarriesChunksFromAnyThreadWithHeartbeatsAndEndsWhenTold) {
  Socket socket(port_);
  std::shared_ptr<ResponseStream> stream = OpenStream(socket);
  ASSERT_NE(stream, nullptr);
  std::promise<bool> written;
  std::thread([stream, &written] {
    stream->Write("data: one\n\n", [&written](bool ok) { written.set_value(ok); });
  }).join();
  EXPECT_TRUE(written.get_future().get());
  std::this_thread::sleep_for(350ms);  // quiet: heartbeats follow
  stream->End();
  EXPECT_FALSE(stream->Write("data: too late\n\n", nullptr));
  const std::string body = socket.ReadAll(2000ms);  // the server closes after the last chunk
  EXPECT_NE(body.find("Transfer-Encoding: chunked"), std::string::npos) << body;
  EXPECT_NE(body.find("b\r\ndata: one\n\n\r\n"), std::string::npos) << body;
  EXPECT_NE(body.find(": tick\n\n"), std::string::npos) << body;
  EXPECT_TRUE(absl::EndsWith(body, "0\r\n\r\n")) << body;
  EXPECT_EQ(body.find("too late"), std::string::npos);
  for (int i = 0; i < 100 && !ended_; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(ended_);
}

TEST_F(HttpServerTest, AStreamEndsWhenItsClientGoes) {
  {
    Socket socket(port_);
    ASSERT_NE(OpenStream(socket), nullptr);
    ASSERT_TRUE(socket.Readable(2000ms));
  }
  for (int i = 0; i < 200 && !ended_; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(ended_);
  std::promise<bool> written;
  Stream()->Write("data: nobody\n\n", [&written](bool ok) { written.set_value(ok); });
  // Either refused at once (Write returned false and never calls back) or answered false.
  auto result = written.get_future();
  if (result.wait_for(500ms) == std::future_status::ready) {
    EXPECT_FALSE(result.get());
  }
  for (int i = 0; i < 100 && server_->OpenConnections() != 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server_->OpenConnections(), 0);
}

TEST_F(HttpServerTest, AStreamWhoseClientStopsReadingIsDroppedAfterTheWriteTimeout) {
  RestartWithWriteTimeout(300ms);
  Socket socket(port_);
  std::shared_ptr<ResponseStream> stream = OpenStream(socket);
  ASSERT_NE(stream, nullptr);
  // The client reads nothing: once the socket buffers are full, a write waits, and ends the
  // stream when the timeout passes.
  const std::string chunk(1 << 20, 'x');
  std::atomic<int> failed{0};
  for (int i = 0; i < 200 && !ended_; ++i) {
    stream->Write(chunk, [&failed](bool ok) { failed += ok ? 0 : 1; });
    std::this_thread::sleep_for(10ms);
  }
  for (int i = 0; i < 300 && !ended_; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(ended_) << "a stream nobody reads was kept open";
  EXPECT_GT(failed, 0);
  EXPECT_FALSE(stream->Write("data: more\n\n", nullptr));
}

// The write deadline bounds a write in progress, not a stream's quiet: a stream with nothing to
// say for several write timeouts stays open (on its heartbeats) and carries the next chunk.
TEST_F(HttpServerTest, AQuietStreamOutlivesItsWriteTimeout) {
  RestartWithWriteTimeout(150ms);
  Socket socket(port_);
  std::shared_ptr<ResponseStream> stream = OpenStream(socket);
  ASSERT_NE(stream, nullptr);
  std::this_thread::sleep_for(600ms);  // four write timeouts without a chunk of its own
  EXPECT_FALSE(ended_) << "a quiet stream was ended";
  std::promise<bool> written;
  ASSERT_TRUE(stream->Write("data: later\n\n", [&written](bool ok) { written.set_value(ok); }));
  EXPECT_TRUE(written.get_future().get());
  stream->End();
  const std::string body = socket.ReadAll(2000ms);
  EXPECT_NE(body.find("data: later\n\n"), std::string::npos) << body;
  EXPECT_NE(body.find(": tick\n\n"), std::string::npos) << body;
}

TEST_F(HttpServerTest, ARequestItsHandlerDroppedIsAnswered500) {
  Socket socket(port_);
  ASSERT_TRUE(socket.Send("GET /dropped HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string response = socket.ReadResponse(2000ms);
  EXPECT_EQ(StatusOf(response), 500) << response;
  EXPECT_NE(response.find("INTERNAL"), std::string::npos) << response;
}

TEST_F(HttpServerTest, StopClosesConnectionsAndWaitsForARequestStillHeld) {
  Socket idle(port_);
  Socket held(port_);
  ASSERT_TRUE(held.Send("GET /held HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 200; ++i) {
    std::lock_guard lock(mutex_);
    if (held_ != nullptr) break;
    std::this_thread::sleep_for(5ms);
  }
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server_->Stop();
    stopped = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(stopped) << "Stop returned while a handler still held a request";
  {
    std::lock_guard lock(mutex_);
    held_->Reply(Response{200, "text/plain", "late"});  // the connection is closed: dropped
    held_.reset();
  }
  stopper.join();
  EXPECT_TRUE(stopped);
  EXPECT_EQ(server_->OpenConnections(), 0);
  EXPECT_EQ(idle.ReadAll(500ms), "");  // closed without a word
}

}  // namespace
}  // namespace ablate::http
