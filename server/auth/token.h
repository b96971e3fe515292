// Bearer tokens: how they are made, hashed for storage, and named.
//
// A token is "abl_" followed by 43 base64url characters: 32 bytes from the kernel's random
// source. The server stores only its SHA-256, so the database alone gives nobody a token; a
// token this long needs no slow, salted hash, as nobody can guess one from its hash.
#ifndef ABLATE_SERVER_AUTH_TOKEN_H_
#define ABLATE_SERVER_AUTH_TOKEN_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ablate::auth {

inline constexpr char kTokenPrefix[] = "abl_";
// Characters of a token kept as its visible prefix ("abl_" and 8 more, 48 of its 256 bits),
// by which `ablate-server admin` lists and revokes single tokens.
inline constexpr size_t kVisiblePrefixLength = 12;

// A new random token. Internal when the random source fails.
absl::StatusOr<std::string> NewToken();

// Lowercase hex SHA-256 of the token's text: what the store keeps and looks tokens up by.
std::string TokenHash(std::string_view token);

// The token's first kVisiblePrefixLength characters.
std::string VisiblePrefix(std::string_view token);

// The token of an HTTP Authorization header or gRPC "authorization" metadata value
// ("Bearer <token>", the scheme in any case); empty when the value is empty or not a bearer
// credential.
std::string_view BearerToken(std::string_view header_value);

}  // namespace ablate::auth

#endif  // ABLATE_SERVER_AUTH_TOKEN_H_
