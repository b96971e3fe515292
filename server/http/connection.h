// The HTTP server's connections (internal to server/http/): what they share with the server that
// accepts them, and the ways an accepted socket is served. http_server.cc owns the acceptor, the
// I/O threads and the limits applied at accept; connection.cc owns one connection's life, from
// the TLS handshake to the close (see the top of connection.cc).
#ifndef ABLATE_SERVER_HTTP_CONNECTION_H_
#define ABLATE_SERVER_HTTP_CONNECTION_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/http/http_server.h"

namespace ablate::http::detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

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

// Serves an admitted connection until it closes; it releases its place in `shared` then.
void ServeConnection(std::shared_ptr<Shared> shared, tcp::socket socket, asio::ip::address peer);
// The same over TLS, from the handshake on.
void ServeConnection(std::shared_ptr<Shared> shared, ssl::stream<tcp::socket> stream,
                     asio::ip::address peer);

// The status line and headers of `response`, then `extra` (more header lines, each ending in
// CRLF), then the blank line.
std::string HeadText(const Response& response, const std::string& extra);

// After a refusal (Connection: close), how long and how much of the client's unread request is
// read and dropped before the connection closes, so that the client reads the refusal rather
// than a connection reset.
constexpr auto kLinger = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 4 << 20;

}  // namespace ablate::http::detail

#endif  // ABLATE_SERVER_HTTP_CONNECTION_H_
