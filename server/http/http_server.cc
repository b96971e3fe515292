// The connection's life, on its own strand (so nothing in a Connection needs a lock):
//
//   [TLS handshake] -> read headers -> [100 Continue] -> read body -> handler ...
//        ... -> Reply: write the response -> read the next request (or close)
//        ... -> Stream: write the head, then chunks as they come -> close
//
// One timer per connection bounds whichever phase is current (handshake and headers together,
// the body, each write). Boost.Beast's parser enforces the header and body sizes as bytes
// arrive, chunked bodies included, so nothing over a limit is ever buffered. Refusals are
// written with Connection: close; on plain TCP the server then stops sending and reads (and
// discards) what the client is still sending for a moment, so the client reads the refusal
// instead of a connection reset.
#include "server/http/http_server.h"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>, which GCC 12
// in C++20 mode does not bring in on its own.
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/jobs/text.h"
#include "spdlog/spdlog.h"

namespace ablate::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Connections waiting to be accepted: a class opening the page at once arrives in a burst.
constexpr int kListenBacklog = 1024;
// After a refusal, how long and how much of the client's unread request is read and dropped
// before the connection closes (see the top of this file).
constexpr auto kLinger = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 4 << 20;
// After the acceptor runs out of file descriptors, the pause before it tries again.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

std::string Seconds(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? absl::StrCat(d.count() / 1000, " s")
                               : absl::StrCat(d.count(), " ms");
}

std::string ReasonOf(int status) {
  const beast::string_view reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  return std::string(reason.data(), reason.size());
}

// The status line and headers of `response`, ending with the blank line.
std::string HeadText(const Response& response, const std::string& extra) {
  std::string head =
      absl::StrCat("HTTP/1.1 ", response.status, " ", ReasonOf(response.status), "\r\n");
  if (!response.content_type.empty()) {
    absl::StrAppend(&head, "Content-Type: ", response.content_type, "\r\n");
  }
  for (const auto& [name, value] : response.headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&head, extra, "\r\n");
  return head;
}

std::string Chunk(const std::string& data) {
  return absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
}

}  // namespace

namespace {

// What connections share with the server, and keep alive past it: they may outlive Stop's
// return by no more than the destruction of the io_context.
struct Shared {
  ServerOptions options;
  Handler handler;
  ErrorBody error_body;

  std::mutex mutex;
  std::condition_variable released;
  // guarded by mutex:
  std::atomic<bool> stopping{false};
  int open = 0;
  std::map<asio::ip::address, int> per_address;
  std::unordered_map<void*, std::function<void()>> closers;  // each open connection's Close

  // Takes a place for a connection from `peer`; the refusal's status and sentence when the
  // limits say no.
  std::optional<std::pair<int, std::string>> Admit(const asio::ip::address& peer) {
    std::lock_guard lock(mutex);
    const ServerLimits& limits = options.limits;
    if (stopping) return std::make_pair(503, std::string("the server is shutting down."));
    if (open >= limits.max_connections) {
      return std::make_pair(503, absl::StrCat("the server has ", open,
                                              " connections open, its limit "
                                              "(--http-max-connections); try again shortly."));
    }
    int& mine = per_address[peer];
    if (mine >= limits.max_connections_per_address) {
      if (mine == 0) per_address.erase(peer);
      return std::make_pair(
          429, absl::StrCat("this address already has ", mine,
                            " connections open to the server, the limit per address "
                            "(--http-max-connections-per-address); close some and try again."));
    }
    ++mine;
    ++open;
    return std::nullopt;
  }

  void Release(const asio::ip::address& peer, void* key) {
    std::lock_guard lock(mutex);
    if (--per_address[peer] <= 0) per_address.erase(peer);
    --open;
    closers.erase(key);
    released.notify_all();
  }
};

}  // namespace

class Responder::Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void Reply(Response response) = 0;
  virtual std::shared_ptr<ResponseStream> Stream(Response head, StreamOptions options) = 0;
};

Responder::Responder(std::shared_ptr<Exchange> exchange) : exchange_(std::move(exchange)) {}

void Responder::Reply(Response response) const { exchange_->Reply(std::move(response)); }

std::shared_ptr<ResponseStream> Responder::Stream(Response head, StreamOptions options) const {
  return exchange_->Stream(std::move(head), std::move(options));
}

namespace {

// A connection refused at accept: the refusal, then the close (see the top of this file).
class Refusal : public std::enable_shared_from_this<Refusal> {
 public:
  Refusal(tcp::socket socket, std::string text)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), text_(std::move(text)) {}

  void Start() {
    timer_.expires_after(kLinger);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        beast::error_code ignored;
        self->socket_.close(ignored);
      }
    });
    asio::async_write(socket_, asio::buffer(text_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Finish();
                        beast::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        self->Drain();
                      });
  }

 private:
  void Drain() {
    socket_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerBytes) return self->Finish();
                              self->Drain();
                            });
  }
  void Finish() {
    timer_.cancel();
    beast::error_code ignored;
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string text_;
  std::array<char, 4096> discard_;
  size_t drained_ = 0;
};

std::string RefusalText(const Shared& shared, int status, const std::string& message) {
  const absl::StatusCode code =
      status == 429 ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kUnavailable;
  Response response{.status = status,
                    .content_type = "application/json",
                    .body = shared.error_body(absl::Status(code, message))};
  response.SetHeader("Retry-After", "5");
  response.SetHeader("X-Content-Type-Options", "nosniff");
  return HeadText(response, absl::StrCat("Content-Length: ", response.body.size(),
                                         "\r\nConnection: close\r\n")) +
         response.body;
}

template <typename Socket>
class StreamImpl;

// Socket: tcp::socket, or ssl::stream<tcp::socket> for HTTPS.
template <typename Socket>
class Connection : public std::enable_shared_from_this<Connection<Socket>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Socket, tcp::socket>;

  Connection(std::shared_ptr<Shared> shared, Socket stream, asio::ip::address peer)
      : shared_(std::move(shared)),
        limits_(shared_->options.limits),
        stream_(std::move(stream)),
        timer_(stream_.get_executor()),
        heartbeat_timer_(stream_.get_executor()),
        peer_(std::move(peer)) {}

  ~Connection() { shared_->Release(peer_, this); }

  void Start() {
    {
      std::lock_guard lock(shared_->mutex);
      shared_->closers[this] = [weak = this->weak_from_this()] {
        if (auto self = weak.lock()) {
          asio::post(self->stream_.get_executor(), [self] { self->Close(); });
        }
      };
    }
    if constexpr (kTls) {
      SetDeadline(limits_.header_timeout, Phase::kHandshake);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->ReadHeader(/*after_handshake=*/true);
                              });
    } else {
      ReadHeader(false);
    }
  }

  // The Exchange and ResponseStream below call these on the strand.
  void Send(Response response);
  void StartStream(std::shared_ptr<StreamImpl<Socket>> stream, Response head,
                   StreamOptions options);
  void QueueChunk(std::string data, std::function<void(bool)> written);
  void EndStream();
  void SetOnEnd(std::function<void()> on_end);
  auto executor() { return stream_.get_executor(); }

 private:
  enum class Phase { kNone, kHandshake, kHeader, kBody, kWrite };

  auto& Lowest() { return beast::get_lowest_layer(stream_); }

  void SetDeadline(std::chrono::milliseconds after, Phase phase) {
    phase_ = phase;
    timed_out_ = Phase::kNone;
    const uint64_t generation = ++deadline_generation_;
    timer_.expires_after(after);
    timer_.async_wait([self = this->shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->deadline_generation_ || self->closed_) return;
      self->timed_out_ = self->phase_;
      // Ends the operation in progress; its handler sees timed_out_.
      beast::error_code ignored;
      self->Lowest().cancel(ignored);
    });
  }

  void ClearDeadline() {
    ++deadline_generation_;
    phase_ = Phase::kNone;
    timer_.cancel();
  }

  void ReadHeader(bool after_handshake) {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits_.max_header_bytes));
    parser_->body_limit(limits_.max_body_bytes);
    // The handshake's time counts toward the headers' deadline.
    if (!after_handshake) SetDeadline(limits_.header_timeout, Phase::kHeader);
    phase_ = Phase::kHeader;
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (closed_) return;
    // A read that completed just as the deadline passed stands.
    if (ec && (timed_out_ == Phase::kHeader || timed_out_ == Phase::kHandshake)) {
      if (!parser_->got_some() && buffer_.size() == 0) return Close();  // an idle keep-alive
      return Refuse(
          408, absl::StatusCode::kDeadlineExceeded,
          absl::StrCat("the request's headers did not arrive within ",
                       Seconds(limits_.header_timeout), ", the limit (--http-header-timeout)."));
    }
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    if (!parser_->is_done()) {
      // curl and others wait for this before sending a body they announced as large.
      auto expect = header.find(bhttp::field::expect);
      if (expect != header.end() && beast::iequals(expect->value(), "100-continue")) {
        auto text = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
        asio::async_write(stream_, asio::buffer(*text),
                          [self = this->shared_from_this(), text](beast::error_code ec, size_t) {
                            if (ec) return self->Close();
                            self->ReadBody();
                          });
        return;
      }
    }
    ReadBody();
  }

  void ReadBody() {
    if (closed_) return;
    if (parser_->is_done()) return Dispatch();
    SetDeadline(limits_.body_timeout, Phase::kBody);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (self->closed_) return;
                        if (ec && self->timed_out_ == Phase::kBody) {
                          return self->Refuse(
                              408, absl::StatusCode::kDeadlineExceeded,
                              absl::StrCat("the request's body did not arrive within ",
                                           Seconds(self->limits_.body_timeout),
                                           ", the limit (--http-body-timeout)."));
                        }
                        if (ec) return self->OnReadError(ec);
                        self->Dispatch();
                      });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == ssl::error::stream_truncated) {
      return Close();
    }
    if (ec == bhttp::error::header_limit) {
      return Refuse(431, absl::StatusCode::kResourceExhausted,
                    absl::StrCat("the request's headers are larger than the limit of ",
                                 limits_.max_header_bytes, " bytes (--http-max-header-bytes)."));
    }
    if (ec == bhttp::error::body_limit) {
      return Refuse(413, absl::StatusCode::kResourceExhausted,
                    absl::StrCat("the request body is larger than the limit of ",
                                 limits_.max_body_bytes, " bytes (--http-max-body-bytes)."));
    }
    if (ec.category() == beast::error_code(bhttp::error::bad_method).category()) {  // parse errors
      return Refuse(400, absl::StatusCode::kInvalidArgument,
                    absl::StrCat("the request is not valid HTTP/1.1 (", ec.message(), ")."));
    }
    Close();
  }

  void Dispatch() {
    ClearDeadline();
    bhttp::request<bhttp::string_body> message = parser_->release();
    parser_.reset();
    // An open stream keeps its connection for hours: hold no read buffer meanwhile.
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
    keep_alive_ = message.keep_alive();
    head_only_ = message.method() == bhttp::verb::head;
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    ParseTarget(request.target, request.path, request.query);
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.tls = kTls;
    request.peer = peer_.to_string();
    shared_->handler(std::move(request), Responder(MakeExchange()));
  }

  std::shared_ptr<Responder::Exchange> MakeExchange();

  // A refusal ends the connection: what follows the refused request cannot be found reliably.
  void Refuse(int status, absl::StatusCode code, const std::string& message) {
    // The request as far as it came: its method and target once the headers are in, else the
    // first line of what arrived; escaped, so that no byte of it can forge a log line.
    std::string line;
    if (parser_.has_value() && parser_->is_header_done()) {
      line = absl::StrCat(std::string(parser_->get().method_string()), " ",
                          std::string(parser_->get().target()));
    } else {
      const auto data = buffer_.data();
      const std::string_view text(static_cast<const char*>(data.data()), data.size());
      line = std::string(text.substr(0, std::min(text.find('\n'), size_t{200})));
    }
    spdlog::debug("HTTP {} {} from {}: {}", status, jobs::EscapeForLog(line.substr(0, 200)),
                  peer_.to_string(), message);
    keep_alive_ = false;
    head_only_ = false;
    parser_.reset();
    Response response{.status = status,
                      .content_type = "application/json",
                      .body = shared_->error_body(absl::Status(code, message))};
    Send(std::move(response));
  }

  void Write(std::string text, std::function<void(beast::error_code)> then) {
    auto data = std::make_shared<std::string>(std::move(text));
    SetDeadline(limits_.write_timeout, Phase::kWrite);
    asio::async_write(stream_, asio::buffer(*data),
                      [self = this->shared_from_this(), data, then = std::move(then)](
                          beast::error_code ec, size_t) {
                        self->ClearDeadline();
                        then(ec);
                      });
  }

  // After a refusal: stop sending, read and drop the rest for a moment, then close.
  void Linger() {
    if constexpr (kTls) {
      Close();
    } else {
      beast::error_code ignored;
      stream_.shutdown(tcp::socket::shutdown_send, ignored);
      SetDeadline(std::chrono::duration_cast<std::chrono::milliseconds>(kLinger), Phase::kBody);
      Drain();
    }
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerBytes) return self->Close();
                              self->Drain();
                            });
  }

  // While a stream is open: a read that notices the client closing. Whatever a client sends
  // meanwhile is dropped (nothing may follow a request whose response never ends).
  void WatchForClose() {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              if (self->closed_) return;
                              if (ec) return self->Close();
                              self->WatchForClose();
                            });
  }

  void WriteNextChunk();
  void ArmHeartbeat();

  void Close() {
    if (closed_) return;
    closed_ = true;
    ++deadline_generation_;
    timer_.cancel();
    heartbeat_timer_.cancel();
    beast::error_code ignored;
    Lowest().close(ignored);
    std::deque<std::pair<std::string, std::function<void(bool)>>> queued;
    queued.swap(queue_);
    for (auto& [data, written] : queued) {
      if (written) written(false);
    }
    if (on_end_) {
      auto on_end = std::move(on_end_);
      on_end_ = nullptr;
      on_end();
    }
    if (stream_object_ != nullptr) stream_object_->MarkEnded();
    stream_object_.reset();
  }

  const std::shared_ptr<Shared> shared_;
  const ServerLimits& limits_;
  Socket stream_;
  asio::steady_timer timer_;
  asio::steady_timer heartbeat_timer_;
  const asio::ip::address peer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::array<char, 512> discard_;
  size_t drained_ = 0;

  Phase phase_ = Phase::kNone;
  Phase timed_out_ = Phase::kNone;
  uint64_t deadline_generation_ = 0;
  bool keep_alive_ = false;
  bool head_only_ = false;  // a HEAD request: its response's headers only
  bool closed_ = false;

  // Streaming.
  bool streaming_ = false;
  bool writing_ = false;
  bool ending_ = false;  // End was called: close once the queue is written
  std::deque<std::pair<std::string, std::function<void(bool)>>> queue_;
  std::function<void()> on_end_;
  StreamOptions stream_options_;
  Clock::time_point last_write_ = Clock::now();
  std::shared_ptr<StreamImpl<Socket>> stream_object_;  // to mark it ended on Close
};

template <typename Socket>
class StreamImpl final : public ResponseStream {
 public:
  explicit StreamImpl(std::weak_ptr<Connection<Socket>> connection)
      : connection_(std::move(connection)) {}

  bool Write(std::string data, std::function<void(bool)> written) override {
    if (ended_.load()) return false;
    auto connection = connection_.lock();
    if (connection == nullptr) return false;
    asio::post(connection->executor(),
               [connection, text = Chunk(data), written = std::move(written)]() mutable {
                 connection->QueueChunk(std::move(text), std::move(written));
               });
    return true;
  }
  void End() override {
    if (ended_.exchange(true)) return;
    if (auto connection = connection_.lock()) {
      asio::post(connection->executor(), [connection] { connection->EndStream(); });
    }
  }
  void OnEnd(std::function<void()> on_end) override {
    auto connection = connection_.lock();
    if (connection == nullptr) return on_end();
    asio::post(connection->executor(), [connection, on_end = std::move(on_end)]() mutable {
      connection->SetOnEnd(std::move(on_end));
    });
  }
  void MarkEnded() { ended_ = true; }

 private:
  std::weak_ptr<Connection<Socket>> connection_;
  std::atomic<bool> ended_{false};
};

template <typename Socket>
class ExchangeImpl final : public Responder::Exchange {
 public:
  explicit ExchangeImpl(std::shared_ptr<Connection<Socket>> connection)
      : connection_(std::move(connection)) {}
  // A handler that dropped its request unanswered: a 500, not a hung client.
  ~ExchangeImpl() override {
    if (!answered_.exchange(true)) {
      Response response{.status = 500, .content_type = "application/json"};
      response.body =
          "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"the request was not "
          "answered.\"}}";
      Post(std::move(response));
    }
  }

  void Reply(Response response) override {
    if (answered_.exchange(true)) return;
    Post(std::move(response));
  }

  std::shared_ptr<ResponseStream> Stream(Response head, StreamOptions options) override {
    if (answered_.exchange(true)) return nullptr;
    auto stream = std::make_shared<StreamImpl<Socket>>(connection_);
    asio::post(connection_->executor(), [connection = connection_, stream, head = std::move(head),
                                         options = std::move(options)]() mutable {
      connection->StartStream(stream, std::move(head), std::move(options));
    });
    return stream;
  }

 private:
  void Post(Response response) {
    asio::post(connection_->executor(),
               [connection = connection_, response = std::move(response)]() mutable {
                 connection->Send(std::move(response));
               });
  }

  std::shared_ptr<Connection<Socket>> connection_;
  std::atomic<bool> answered_{false};
};

template <typename Socket>
std::shared_ptr<Responder::Exchange> Connection<Socket>::MakeExchange() {
  return std::make_shared<ExchangeImpl<Socket>>(this->shared_from_this());
}

template <typename Socket>
void Connection<Socket>::Send(Response response) {
  if (closed_ || streaming_) return;
  const bool keep_alive = keep_alive_ && !shared_->stopping.load();
  const bool bodiless = response.status == 304 || response.status == 204;
  std::string extra;
  if (!bodiless) extra = absl::StrCat("Content-Length: ", response.body.size(), "\r\n");
  if (!keep_alive) extra += "Connection: close\r\n";
  std::string text = HeadText(response, extra);
  if (!bodiless && !head_only_) text += response.body;
  Write(std::move(text), [self = this->shared_from_this(), keep_alive](beast::error_code ec) {
    if (ec || self->closed_) return self->Close();
    if (!keep_alive) return self->Linger();
    self->ReadHeader(false);
  });
}

template <typename Socket>
void Connection<Socket>::StartStream(std::shared_ptr<StreamImpl<Socket>> stream, Response head,
                                     StreamOptions options) {
  if (closed_ || streaming_) {
    stream->MarkEnded();
    return;
  }
  streaming_ = true;
  stream_object_ = std::move(stream);
  stream_options_ = std::move(options);
  // The stream ends the connection: a browser reconnects an EventSource on a new one anyway.
  queue_.emplace_front(HeadText(head, "Transfer-Encoding: chunked\r\nConnection: close\r\n"),
                       nullptr);
  WatchForClose();
  WriteNextChunk();
  ArmHeartbeat();
}

template <typename Socket>
void Connection<Socket>::QueueChunk(std::string data, std::function<void(bool)> written) {
  if (closed_) {
    if (written) written(false);
    return;
  }
  queue_.emplace_back(std::move(data), std::move(written));
  WriteNextChunk();
}

template <typename Socket>
void Connection<Socket>::WriteNextChunk() {
  if (closed_ || writing_) return;
  if (queue_.empty()) {
    if (!ending_) return;
    ending_ = false;
    writing_ = true;
    Write("0\r\n\r\n", [self = this->shared_from_this()](beast::error_code) {
      self->writing_ = false;
      self->Close();
    });
    return;
  }
  writing_ = true;
  Write(queue_.front().first, [self = this->shared_from_this()](beast::error_code ec) {
    self->writing_ = false;
    if (self->queue_.empty()) return;  // Close ran meanwhile and answered the callbacks
    std::function<void(bool)> written = std::move(self->queue_.front().second);
    self->queue_.pop_front();
    if (ec || self->closed_) {
      if (written) written(false);
      return self->Close();
    }
    self->last_write_ = Clock::now();
    if (written) written(true);
    self->WriteNextChunk();
  });
}

template <typename Socket>
void Connection<Socket>::ArmHeartbeat() {
  if (closed_ || stream_options_.heartbeat.empty()) return;
  heartbeat_timer_.expires_at(last_write_ + stream_options_.heartbeat_after);
  heartbeat_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
    if (ec || self->closed_) return;
    const bool quiet = Clock::now() - self->last_write_ >= self->stream_options_.heartbeat_after;
    if (quiet && !self->writing_ && self->queue_.empty()) {
      self->last_write_ = Clock::now();  // queued now; the timer restarts from here
      self->QueueChunk(Chunk(self->stream_options_.heartbeat), nullptr);
    }
    self->ArmHeartbeat();
  });
}

template <typename Socket>
void Connection<Socket>::EndStream() {
  if (closed_) return;
  ending_ = true;
  WriteNextChunk();
}

template <typename Socket>
void Connection<Socket>::SetOnEnd(std::function<void()> on_end) {
  if (closed_) return on_end();
  on_end_ = std::move(on_end);
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(std::shared_ptr<Shared> shared) : shared(std::move(shared)) {}

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // Out of file descriptors, most likely: the connections in the backlog wait.
        spdlog::warn("HTTP: cannot accept a connection ({}); trying again shortly", ec.message());
        backoff.expires_after(kAcceptBackoff);
        backoff.async_wait([this](beast::error_code ec) {
          if (!ec) Accept();
        });
        return;
      }
      OnAccept(std::move(socket));
      Accept();
    });
  }

  void OnAccept(tcp::socket socket) {
    beast::error_code ec;
    const asio::ip::address peer = socket.remote_endpoint(ec).address();
    if (ec) return;
    socket.set_option(tcp::no_delay(true), ec);
    if (std::optional<std::pair<int, std::string>> refusal = shared->Admit(peer)) {
      // Over TLS nothing can be said before a handshake, which is what a refusal saves.
      if (tls.has_value()) return socket.close(ec), void();
      std::make_shared<Refusal>(std::move(socket),
                                RefusalText(*shared, refusal->first, refusal->second))
          ->Start();
      return;
    }
    if (tls.has_value()) {
      std::make_shared<Connection<ssl::stream<tcp::socket>>>(
          shared, ssl::stream<tcp::socket>(std::move(socket), *tls), peer)
          ->Start();
    } else {
      std::make_shared<Connection<tcp::socket>>(shared, std::move(socket), peer)->Start();
    }
  }

  std::shared_ptr<Shared> shared;
  asio::io_context ioc;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  asio::steady_timer backoff{acceptor.get_executor()};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::mutex state_mutex;
  bool started = false;  // guarded by state_mutex
  bool stopped = false;  // guarded by state_mutex
};

HttpServer::HttpServer(ServerOptions options, Handler handler, ErrorBody error_body) {
  auto shared = std::make_shared<Shared>();
  shared->options = std::move(options);
  shared->handler = std::move(handler);
  shared->error_body = std::move(error_body);
  impl_ = std::make_unique<Impl>(std::move(shared));
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start(const std::string& host, int port) {
  const ServerOptions& options = impl_->shared->options;
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    ssl::context& context = impl_->tls.emplace(ssl::context::tls_server);
    context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    // An idle stream then holds no TLS read and write buffers (about 34 KiB each).
    SSL_CTX_set_mode(context.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    beast::error_code cert_error;
    beast::error_code key_error;
    context.use_certificate_chain_file(options.tls_cert_file, cert_error);
    context.use_private_key_file(options.tls_key_file, ssl::context::pem, key_error);
    if (cert_error || key_error || SSL_CTX_check_private_key(context.native_handle()) != 1) {
      impl_->tls.reset();
      return absl::InvalidArgumentError(
          absl::StrCat("cannot serve HTTPS with the certificate ", options.tls_cert_file,
                       " and the key ", options.tls_key_file,
                       " (both must be readable PEM files, and the key the certificate's)."));
    }
  }
  beast::error_code ec;
  tcp::resolver resolver(impl_->ioc);
  const auto endpoints = resolver.resolve(
      host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  tcp::acceptor& acceptor = impl_->acceptor;
  if (!ec && !endpoints.empty()) {
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(kListenBacklog, ec);
  }
  if (ec || endpoints.empty()) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port,
                     " for HTTP (is the address valid and the port free?)"));
  }
  const int bound = acceptor.local_endpoint().port();
  {
    std::lock_guard lock(impl_->state_mutex);
    impl_->started = true;
  }
  impl_->work.emplace(impl_->ioc.get_executor());
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
  asio::post(acceptor.get_executor(), [impl = impl_.get()] { impl->Accept(); });
  return bound;
}

void HttpServer::Stop() {
  {
    std::lock_guard lock(impl_->state_mutex);
    if (!impl_->started || impl_->stopped) return;
    impl_->stopped = true;
  }
  Shared& shared = *impl_->shared;
  shared.stopping = true;
  asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->backoff.cancel();
  });
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lock(shared.mutex);
    for (const auto& [key, close] : shared.closers) closers.push_back(close);
  }
  // Outside the lock: a closer may drop the last reference to its connection, whose
  // destructor takes the lock.
  for (const auto& close : closers) close();
  {
    std::unique_lock lock(shared.mutex);
    // A connection whose request a handler holds is released once the handler answers.
    while (!shared.released.wait_for(lock, std::chrono::seconds(5),
                                     [&shared] { return shared.open == 0; })) {
      spdlog::warn("HTTP: waiting for {} requests in progress to finish", shared.open);
    }
  }
  impl_->work.reset();
  impl_->ioc.stop();
  for (std::thread& thread : impl_->threads) thread.join();
  impl_->threads.clear();
}

int HttpServer::OpenConnections() const {
  std::lock_guard lock(impl_->shared->mutex);
  return impl_->shared->open;
}

}  // namespace ablate::http
