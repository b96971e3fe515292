// SHA-256 as the project records it everywhere (artifact rows, manifests, token hashes, checked
// downloads): one function, so every place agrees on the digest and its spelling.
#ifndef ABLATE_SERVER_STORE_SHA256_H_
#define ABLATE_SERVER_STORE_SHA256_H_

#include <string>
#include <string_view>

namespace ablate::store {

// The SHA-256 of `data` as 64 lowercase hex characters. Empty only when OpenSSL cannot compute
// a digest at all (it fails on allocation failure alone); callers that must not store an empty
// digest check for it.
std::string Sha256Hex(std::string_view data);

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_SHA256_H_
