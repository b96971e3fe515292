// The HTTP server: the acceptor, the I/O threads, the connection limits applied at accept (and
// the refusal of a connection over them), and an orderly stop. What happens on one connection
// is connection.cc's.
#include "server/http/http_server.h"

#include <algorithm>
#include <array>
#include <boost/asio/write.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/http/connection.h"
#include "spdlog/spdlog.h"

namespace ablate::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using detail::HeadText;
using detail::kLinger;
using detail::kLingerBytes;
using detail::Shared;

// Connections waiting to be accepted: a class opening the page at once arrives in a burst.
constexpr int kListenBacklog = 1024;
// After the acceptor runs out of file descriptors, the pause before it tries again.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

// A connection refused at accept: the refusal, then the close (see connection.h's kLinger).
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
      detail::ServeConnection(shared, ssl::stream<tcp::socket>(std::move(socket), *tls), peer);
    } else {
      detail::ServeConnection(shared, std::move(socket), peer);
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
    impl_->threads.emplace_back([this] {
      // A handler that throws would end the process (std::terminate from the thread); log it
      // and go on serving: the connection it was serving is closed by its own deadline.
      for (;;) {
        try {
          impl_->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("HTTP I/O thread: a handler threw: {}", e.what());
        }
      }
    });
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
