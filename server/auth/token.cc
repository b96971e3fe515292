#include "server/auth/token.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/sha256.h"

namespace ablate::auth {

namespace {
constexpr size_t kTokenBytes = 32;
}  // namespace

absl::StatusOr<std::string> NewToken() {
  unsigned char bytes[kTokenBytes];
  size_t filled = 0;
  while (filled < kTokenBytes) {
    // getrandom blocks only until the kernel's pool is first seeded, and may return fewer bytes
    // or EINTR; both are retried.
    const ssize_t n = getrandom(bytes + filled, kTokenBytes - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat("cannot read random bytes for a token: ", std::strerror(errno)));
    }
    filled += static_cast<size_t>(n);
  }
  const std::string raw(reinterpret_cast<const char*>(bytes), kTokenBytes);
  return absl::StrCat(kTokenPrefix, absl::WebSafeBase64Escape(raw));
}

// The project's one SHA-256 (proto/sha256.h). It is empty only on an allocation failure inside
// OpenSSL, and an empty hash matches no stored token (the column holds 64 characters).
std::string TokenHash(std::string_view token) { return Sha256Hex(token); }

std::string VisiblePrefix(std::string_view token) {
  return std::string(token.substr(0, kVisiblePrefixLength));
}

std::string_view BearerToken(std::string_view header_value) {
  absl::string_view value =
      absl::StripAsciiWhitespace(absl::string_view(header_value.data(), header_value.size()));
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() || !absl::StartsWithIgnoreCase(value, kScheme)) return {};
  value = absl::StripAsciiWhitespace(value.substr(kScheme.size()));
  return std::string_view(value.data(), value.size());
}

}  // namespace ablate::auth
