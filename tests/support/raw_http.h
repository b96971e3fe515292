// A raw HTTP/1.1 client for tests that must send exactly the bytes a case needs (a body that
// trickles, headers that never end, a chunked gigabyte): one TCP connection to 127.0.0.1.
#ifndef ABLATE_TESTS_SUPPORT_RAW_HTTP_H_
#define ABLATE_TESTS_SUPPORT_RAW_HTTP_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace ablate::test_support {

using namespace std::chrono_literals;

// One TCP connection to the server, closed on destruction.
class Socket {
 public:
  explicit Socket(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close(fd_);
      fd_ = -1;
    }
    const int one = 1;
    if (fd_ >= 0) setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // True when the server has sent something (or closed) and it can be read now.
  bool Readable(std::chrono::milliseconds wait = 0ms) const {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(wait.count())) > 0;
  }

  // Reads until the server closes the connection or `wait` passes.
  std::string ReadAll(std::chrono::milliseconds wait) {
    std::string data;
    const auto until = std::chrono::steady_clock::now() + wait;
    char buffer[4096];
    while (std::chrono::steady_clock::now() < until) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (!Readable(std::max(left, 1ms))) continue;
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      data.append(buffer, static_cast<size_t>(n));
    }
    return data;
  }

  // Reads one response: the head and a Content-Length body; empty when none came in `wait`.
  std::string ReadResponse(std::chrono::milliseconds wait) {
    std::string data;
    const auto until = std::chrono::steady_clock::now() + wait;
    char buffer[4096];
    while (std::chrono::steady_clock::now() < until) {
      const size_t head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        size_t length = 0;
        const std::string head = absl::AsciiStrToLower(data.substr(0, head_end));
        const size_t at = head.find("content-length:");
        if (at != std::string::npos) {
          (void)absl::SimpleAtoi(
              absl::StripAsciiWhitespace(head.substr(at + 15, head.find('\r', at) - at - 15)),
              &length);
        }
        if (data.size() >= head_end + 4 + length) return data;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (!Readable(std::max(left, 1ms))) continue;
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      data.append(buffer, static_cast<size_t>(n));
    }
    return data;
  }

 private:
  int fd_ = -1;
};

// The status code of a response's first line; 0 when there is none.
inline int StatusOf(const std::string& response) {
  int status = 0;
  if (!absl::StartsWith(response, "HTTP/1.1 ") ||
      !absl::SimpleAtoi(response.substr(9, 3), &status)) {
    return 0;
  }
  return status;
}

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_RAW_HTTP_H_
