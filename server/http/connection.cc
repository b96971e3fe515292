// The connection's life, on its own strand (so nothing in a Connection needs a lock):
//
//   [TLS handshake] -> read headers -> [100 Continue] -> read body -> handler ...
//        ... -> Reply: write the response -> read the next request (or close)
//        ... -> Stream: write the head, then chunks as they come -> close
//
// One timer per connection bounds whichever phase is current (handshake and headers together,
// the body, the response's write); an open stream has a second one for its heartbeat and the
// deadline of its chunks' writes. Boost.Beast's parser enforces the header and body sizes as
// bytes arrive, chunked bodies included, and the read buffer's own limit (the header limit)
// bounds a chunked body's trailer, which the parser does not, so nothing over a limit is ever
// buffered. Refusals are
// written with Connection: close; on plain TCP the server then stops sending and reads (and
// discards) what the client is still sending for a moment (kLinger), so the client reads the
// refusal instead of a connection reset. A connection refused at accept is http_server.cc's.
//
// One file of about 600 lines on purpose: every phase above runs on the connection's strand
// and shares its timer, buffers and TLS-or-TCP stream, so split files would each need the
// Connection's private state.
#include "server/http/connection.h"

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

namespace detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

std::string ReasonOf(int status) {
  const beast::string_view reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  return std::string(reason.data(), reason.size());
}

}  // namespace

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

namespace {

using Clock = std::chrono::steady_clock;


std::string Seconds(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? absl::StrCat(d.count() / 1000, " s")
                               : absl::StrCat(d.count(), " ms");
}



// A response is written this much at a time, each piece with its own write_timeout.
constexpr size_t kWritePiece = 256 << 10;

// How soon a deadline's cancel is repeated while the operation it ended goes on
// (CancelUntilNoticed).
constexpr auto kRecancel = std::chrono::milliseconds(20);

std::string Chunk(const std::string& data) {
  return absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
}

}  // namespace

namespace {

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
        stream_timer_(stream_.get_executor()),
        peer_(std::move(peer)),
        buffer_(limits_.max_header_bytes) {}

  ~Connection() { shared_->Release(peer_, this); }

  void Start() {
    bool stopping;
    {
      std::lock_guard lock(shared_->mutex);
      shared_->closers[this] = [weak = this->weak_from_this()] {
        if (auto self = weak.lock()) {
          asio::post(self->stream_.get_executor(), [self] { self->Close(); });
        }
      };
      // Admitted before Stop, registered after Stop took its list of closers: Stop sets
      // `stopping` before it takes the list, so such a connection sees it here and closes.
      stopping = shared_->stopping.load();
    }
    if (stopping) {
      asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Close(); });
      return;
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
      self->CancelUntilNoticed(generation);
    });
  }

  // Ends the operation in progress, whose handler sees timed_out_, and does so again every
  // kRecancel until a handler has moved the connection on (a new deadline, or none): a read
  // that had just completed when the deadline passed is not cancelled, and the composed read
  // it belongs to (the headers, a body) then starts another one. A slowloris line that arrived
  // at that moment once let its connection escape the header deadline for good.
  void CancelUntilNoticed(uint64_t generation) {
    beast::error_code ignored;
    Lowest().cancel(ignored);
    timer_.expires_after(kRecancel);
    timer_.async_wait([self = this->shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->deadline_generation_ || self->closed_) return;
      self->CancelUntilNoticed(generation);
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
    header_fields_ = std::distance(header.begin(), header.end());
    // RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host header, else it is 400 (a
    // proxy and this server could read different targets from it). HTTP/1.0 predates Host.
    if (header.version() >= 11) {
      const size_t hosts = header.count(bhttp::field::host);
      if (hosts != 1) {
        return Refuse(400, absl::StatusCode::kInvalidArgument,
                      hosts == 0 ? "an HTTP/1.1 request must carry a Host header."
                                 : "the request carries more than one Host header; send one.");
      }
    }
    if (!parser_->is_done()) {
      // curl and others wait for this before sending a body they announced as large.
      auto expect = header.find(bhttp::field::expect);
      if (expect != header.end() && beast::iequals(expect->value(), "100-continue")) {
        auto text = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
        // A write like any other, with its own deadline (which also ends the header deadline's
        // repeated cancels, should the headers have arrived just as it passed).
        SetDeadline(limits_.write_timeout, Phase::kWrite);
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
    // The read buffer holds at most --http-max-header-bytes: what overflows it is one unit the
    // parser cannot take in parts, the headers or, after a chunked body, its trailer (whose
    // size Beast does not bound itself).
    if (ec == bhttp::error::buffer_overflow) {
      return Refuse(431, absl::StatusCode::kResourceExhausted,
                    absl::StrCat(phase_ == Phase::kBody ? "the chunked body's trailer"
                                                        : "the request's headers",
                                 " are larger than the limit of ", limits_.max_header_bytes,
                                 " bytes (--http-max-header-bytes)."));
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
    if (std::distance(parser_->get().begin(), parser_->get().end()) != header_fields_) {
      // Fields after a chunked body must not be read as headers (RFC 9110 6.5.1): a token or a
      // Content-Type there would pass a proxy that checks only the headers. No client of this
      // API sends any.
      return Refuse(400, absl::StatusCode::kInvalidArgument,
                    "the request has trailer fields after its chunked body; send every field "
                    "in the headers.");
    }
    ClearDeadline();
    bhttp::request<bhttp::string_body> message = parser_->release();
    parser_.reset();
    // An open stream keeps its connection for hours: hold no read buffer meanwhile.
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
    keep_alive_ = message.keep_alive();
    head_only_ = message.method() == bhttp::verb::head;
    http10_ = message.version() < 11;
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

  // Writes `text`, then `shared` when given (a body shared with other responses, held until
  // written), in pieces of at most kWritePiece bytes with write_timeout for each: a client on
  // a slow network is not dropped from a large file while it keeps reading.
  void Write(std::string text, std::shared_ptr<const std::string> shared,
             std::function<void(beast::error_code)> then) {
    WritePiece(std::make_shared<const std::string>(std::move(text)), 0, std::move(shared),
               std::move(then));
  }
  void Write(std::string text, std::function<void(beast::error_code)> then) {
    Write(std::move(text), nullptr, std::move(then));
  }

  // From `offset` of `data`, then `next`.
  void WritePiece(std::shared_ptr<const std::string> data, size_t offset,
                  std::shared_ptr<const std::string> next,
                  std::function<void(beast::error_code)> then) {
    const size_t n = std::min(kWritePiece, data->size() - offset);
    if (n == 0) {
      if (next == nullptr) return then({});
      return WritePiece(std::move(next), 0, nullptr, std::move(then));
    }
    SetDeadline(limits_.write_timeout, Phase::kWrite);
    const asio::const_buffer piece(data->data() + offset, n);
    asio::async_write(stream_, piece,
                      [self = this->shared_from_this(), data = std::move(data), offset, n,
                       next = std::move(next),
                       then = std::move(then)](beast::error_code ec, size_t) mutable {
                        self->ClearDeadline();
                        if (ec) return then(ec);
                        self->WritePiece(std::move(data), offset + n, std::move(next),
                                         std::move(then));
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

  // A chunk of an open stream. It has no deadline of its own: the stream's timer
  // (ArmStreamTimer) ends a write still unfinished write_timeout after it started. One timer
  // per stream, not one set and cancelled per write: a lecture hall's streams write twenty
  // times a second each.
  void WriteChunk(std::string text, std::function<void(beast::error_code)> then) {
    auto data = std::make_shared<std::string>(std::move(text));
    write_started_ = Clock::now();
    asio::async_write(stream_, asio::buffer(*data),
                      [data, then = std::move(then)](beast::error_code ec, size_t) { then(ec); });
  }

  void WriteNextChunk();
  void ArmStreamTimer();

  // Ends an HTTP/1.0 stream, whose end is the connection's close. On plain TCP the server
  // stops sending (the client reads everything written, then the end) and waits up to kLinger
  // for the client to close its side, which WatchForClose notices: closing at once with
  // unread bytes from the client would reset the connection and could lose the stream's tail.
  void EndByClosing() {
    stream_timer_.cancel();
    if constexpr (kTls) {
      Close();
    } else {
      beast::error_code ignored;
      stream_.shutdown(tcp::socket::shutdown_send, ignored);
      SetDeadline(std::chrono::duration_cast<std::chrono::milliseconds>(kLinger), Phase::kWrite);
    }
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    ++deadline_generation_;
    timer_.cancel();
    stream_timer_.cancel();
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
  asio::steady_timer stream_timer_;  // an open stream's heartbeat and write deadline
  const asio::ip::address peer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::ptrdiff_t header_fields_ = 0;  // of the request being read, when its headers were in
  std::array<char, 512> discard_;
  size_t drained_ = 0;

  Phase phase_ = Phase::kNone;
  Phase timed_out_ = Phase::kNone;
  uint64_t deadline_generation_ = 0;
  bool keep_alive_ = false;
  bool head_only_ = false;  // a HEAD request: its response's headers only
  bool http10_ = false;     // an HTTP/1.0 request: a stream is sent without chunks
  bool closed_ = false;

  // Streaming.
  bool streaming_ = false;
  bool writing_ = false;
  bool ending_ = false;  // End was called: close once the queue is written
  std::deque<std::pair<std::string, std::function<void(bool)>>> queue_;
  std::function<void()> on_end_;
  StreamOptions stream_options_;
  Clock::time_point last_write_ = Clock::now();
  Clock::time_point write_started_;  // of the chunk being written, while writing_
  std::shared_ptr<StreamImpl<Socket>> stream_object_;  // to mark it ended on Close
};

// `chunked`: whether the stream's data is sent as chunks (HTTP/1.1) or as it is (HTTP/1.0, whose
// stream ends when the connection closes). Framed here, on the writer's thread, not the I/O's.
template <typename Socket>
class StreamImpl final : public ResponseStream {
 public:
  StreamImpl(std::weak_ptr<Connection<Socket>> connection, bool chunked)
      : connection_(std::move(connection)), chunked_(chunked) {}

  bool Write(std::string data, std::function<void(bool)> written) override {
    if (ended_.load()) return false;
    auto connection = connection_.lock();
    if (connection == nullptr) return false;
    std::string text = chunked_ ? Chunk(data) : std::move(data);
    asio::post(connection->executor(),
               [connection, text = std::move(text), written = std::move(written)]() mutable {
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
  const bool chunked_;
  std::atomic<bool> ended_{false};
};

template <typename Socket>
class ExchangeImpl final : public Responder::Exchange {
 public:
  ExchangeImpl(std::shared_ptr<Connection<Socket>> connection, bool chunked)
      : connection_(std::move(connection)), chunked_(chunked) {}
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
    auto stream = std::make_shared<StreamImpl<Socket>>(connection_, chunked_);
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
  const bool chunked_;  // a stream's (see StreamImpl)
  std::atomic<bool> answered_{false};
};

template <typename Socket>
std::shared_ptr<Responder::Exchange> Connection<Socket>::MakeExchange() {
  return std::make_shared<ExchangeImpl<Socket>>(this->shared_from_this(), /*chunked=*/!http10_);
}

template <typename Socket>
void Connection<Socket>::Send(Response response) {
  if (closed_ || streaming_) return;
  const bool keep_alive = keep_alive_ && !shared_->stopping.load();
  const bool bodiless = response.status == 304 || response.status == 204;
  std::string extra;
  if (!bodiless) extra = absl::StrCat("Content-Length: ", response.Body().size(), "\r\n");
  if (!keep_alive) extra += "Connection: close\r\n";
  std::string text = HeadText(response, extra);
  std::shared_ptr<const std::string> shared;
  if (!bodiless && !head_only_) {
    if (response.shared_body) {
      shared = std::move(response.shared_body);
    } else {
      text += response.body;
    }
  }
  Write(std::move(text), std::move(shared),
        [self = this->shared_from_this(), keep_alive](beast::error_code ec) {
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
  // The stream ends the connection: a browser reconnects an EventSource on a new one anyway.
  // HTTP/1.0 knows no chunked coding (RFC 9112 §6.1): its stream is sent as it is and ends when
  // the connection closes.
  std::string head_text =
      HeadText(head, http10_ ? "Connection: close\r\n"
                             : "Transfer-Encoding: chunked\r\nConnection: close\r\n");
  if (head_only_) {
    // HEAD: the head is the whole answer (RFC 9110 §9.3.2); whatever the handler writes to the
    // stream is dropped, and the connection closes once the head is out, as GET's would.
    stream->MarkEnded();
    Write(std::move(head_text),
          [self = this->shared_from_this()](beast::error_code) { self->Close(); });
    return;
  }
  stream_object_ = std::move(stream);
  stream_options_ = std::move(options);
  queue_.emplace_front(std::move(head_text), nullptr);
  WatchForClose();
  WriteNextChunk();
  ArmStreamTimer();
}

template <typename Socket>
void Connection<Socket>::QueueChunk(std::string data, std::function<void(bool)> written) {
  if (closed_ || head_only_) {
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
    if (http10_) return EndByClosing();
    writing_ = true;
    WriteChunk("0\r\n\r\n", [self = this->shared_from_this()](beast::error_code) {
      self->writing_ = false;
      self->Close();
    });
    return;
  }
  writing_ = true;
  auto self = this->shared_from_this();
  WriteChunk(std::move(queue_.front().first), [self](beast::error_code ec) {
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

// The stream's one timer: it fires by the deadline of the chunk being written (and ends the
// stream if that write is still unfinished) and when the heartbeat is due. It is never set
// further ahead than write_timeout, so that a write starting later has its deadline after the
// timer fires, which then sets it to that deadline.
template <typename Socket>
void Connection<Socket>::ArmStreamTimer() {
  if (closed_) return;
  const Clock::time_point now = Clock::now();
  Clock::time_point at = now + limits_.write_timeout;
  if (writing_) at = std::min(at, write_started_ + limits_.write_timeout);
  if (!stream_options_.heartbeat.empty()) {
    Clock::time_point beat = last_write_ + stream_options_.heartbeat_after;
    if (beat <= now) beat = now + stream_options_.heartbeat_after;  // due during a write
    at = std::min(at, beat);
  }
  stream_timer_.expires_at(at);
  stream_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
    if (ec || self->closed_) return;
    const Clock::time_point now = Clock::now();
    if (self->writing_) {
      if (now - self->write_started_ >= self->limits_.write_timeout) {
        self->timed_out_ = Phase::kWrite;
        // The write's handler sees the error; and the stream's close watch, always waiting on
        // a read, is cancelled with it and closes the connection, so a write that had just
        // completed cannot leave the stream open.
        beast::error_code ignored;
        self->Lowest().cancel(ignored);
        return;
      }
    } else if (!self->stream_options_.heartbeat.empty() && self->queue_.empty() &&
               now - self->last_write_ >= self->stream_options_.heartbeat_after) {
      self->last_write_ = now;  // queued now; the heartbeat's wait restarts from here
      const std::string& beat = self->stream_options_.heartbeat;
      self->QueueChunk(self->http10_ ? beat : Chunk(beat), nullptr);
    }
    self->ArmStreamTimer();
  });
}

template <typename Socket>
void Connection<Socket>::EndStream() {
  if (closed_ || head_only_) return;  // a HEAD's stream has ended with its head
  ending_ = true;
  WriteNextChunk();
}

template <typename Socket>
void Connection<Socket>::SetOnEnd(std::function<void()> on_end) {
  if (closed_) return on_end();
  on_end_ = std::move(on_end);
}

}  // namespace

void ServeConnection(std::shared_ptr<Shared> shared, tcp::socket socket, asio::ip::address peer) {
  std::make_shared<Connection<tcp::socket>>(std::move(shared), std::move(socket), peer)->Start();
}

void ServeConnection(std::shared_ptr<Shared> shared, ssl::stream<tcp::socket> stream,
                     asio::ip::address peer) {
  std::make_shared<Connection<ssl::stream<tcp::socket>>>(std::move(shared), std::move(stream),
                                                         peer)
      ->Start();
}

}  // namespace detail
}  // namespace ablate::http
