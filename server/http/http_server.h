// An event-driven HTTP/1.1 server (Boost.Beast on Boost.Asio): a few I/O threads serve every
// connection, so an open connection costs memory only, never a thread. Every request is
// bounded before a handler sees it: its headers' size and total time to arrive, its body's size
// (chunked included) and time, and the connections one address may hold. A client that breaks
// a limit gets the gateway's JSON error body with the status that names it (408, 413, 431,
// 429/503 with Retry-After) and the connection closes.
//
// Handlers run on an I/O thread and must not block: work that may (the service, SQLite) goes
// to another thread, which answers through the Responder (thread-safe, any thread).
#ifndef ABLATE_SERVER_HTTP_HTTP_SERVER_H_
#define ABLATE_SERVER_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/http/message.h"

namespace ablate::http {

// The written policy: every field is a flag of ablate-server (main.cc) and is in the README.
struct ServerLimits {
  // Largest request body, enforced while it arrives, Content-Length or chunked: 413.
  size_t max_body_bytes = 1 << 20;
  // Largest request line and headers together: 431.
  size_t max_header_bytes = 16 << 10;
  // From the moment the server waits for a request (a new connection, or the end of the
  // previous response) until its headers are complete, whatever trickles in: 408 when some
  // bytes came, a silent close when none did (an idle keep-alive connection).
  std::chrono::milliseconds header_timeout{10'000};
  // For the body, once the headers are in: 408.
  std::chrono::milliseconds body_timeout{30'000};
  // For each 256 KiB of a response (or one event of a stream) to be taken by the client; a
  // client that stops reading is dropped, one that reads slowly is not.
  std::chrono::milliseconds write_timeout{30'000};
  // Connections open at once from one address (429), and in all (503).
  int max_connections_per_address = 1024;
  int max_connections = 8192;
};

struct ServerOptions {
  int io_threads = 2;
  ServerLimits limits;
  // HTTPS with this PEM certificate (chain) and private key; both empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// The open side of a streaming response (text/event-stream): its headers have gone out, and
// chunks follow as they are written. Thread-safe; every callback runs on an I/O thread.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Queues `data` as the next chunk. `written(true)` runs once the client has taken it, or
  // `written(false)` once the stream has ended without that. Returns false, without queueing
  // or calling `written`, after the stream has ended.
  virtual bool Write(std::string data, std::function<void(bool)> written) = 0;
  // Ends the response after what is queued; the connection then closes. Idempotent.
  virtual void End() = 0;
  // `on_end` runs once when the stream ends for any reason: End, the client gone or too slow,
  // the server stopping. Set it once, right after Stream returns (it runs at once when the
  // stream has already ended).
  virtual void OnEnd(std::function<void()> on_end) = 0;
};

struct StreamOptions {
  // Written after `heartbeat_after` without a chunk, to keep proxies from closing a quiet stream
  // and to notice a client that has gone; empty: none.
  std::string heartbeat;
  std::chrono::milliseconds heartbeat_after{5000};
};

// How a handler answers: exactly one of Reply or Stream, from any thread. Copyable; a request
// whose Responders are all dropped unanswered gets 500.
class Responder {
 public:
  class Exchange;  // the connection's side
  explicit Responder(std::shared_ptr<Exchange> exchange);
  void Reply(Response response) const;
  // Sends `head` (status and headers; its body is ignored) and opens a stream, chunked for
  // HTTP/1.1 (for HTTP/1.0, which has no chunks, the data goes as it is and the close ends
  // it); null when the connection has already gone. For a HEAD request only the head is sent
  // and the stream is returned already ended (its Write returns false, OnEnd runs at once).
  std::shared_ptr<ResponseStream> Stream(Response head, StreamOptions options) const;

 private:
  std::shared_ptr<Exchange> exchange_;
};

// Called on an I/O thread for every complete request within the limits.
using Handler = std::function<void(Request request, Responder respond)>;
// The body of a refusal (a code and one sentence) in the gateway's JSON error format.
using ErrorBody = std::function<std::string(const absl::Status& status)>;

// Start, then Stop (or destroy).
class HttpServer {
 public:
  HttpServer(ServerOptions options, Handler handler, ErrorBody error_body);
  // Calls Stop().
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `host`:`port` (port 0 picks a free one) and starts the I/O threads. Returns the bound
  // port; Unavailable naming the address when it cannot bind, InvalidArgument naming both
  // files when the TLS certificate and key cannot be loaded as a pair.
  absl::StatusOr<int> Start(const std::string& host, int port);

  // Stops accepting, closes every connection (ending open streams), waits until every
  // connection is released (requests a handler still holds are answered or dropped first),
  // and joins the I/O threads. Idempotent. Thread-safe.
  void Stop();

  // Connections open now.
  int OpenConnections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_HTTP_SERVER_H_
