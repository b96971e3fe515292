// SHA-256 as the project records it everywhere (artifact rows, manifests, token hashes, the
// client's check of a download): one implementation, so every place agrees on the digest and its
// spelling (64 lowercase hex characters).
//
// It lives beside the API rather than in server/ because both sides need the same rule: the
// server writes the digest into ArtifactChunk.sha256 and the client checks it, and the client may
// depend on proto/ but never on server/. It depends on OpenSSL alone, not on the generated code.
#ifndef ABLATE_PROTO_SHA256_H_
#define ABLATE_PROTO_SHA256_H_

#include <memory>
#include <string>
#include <string_view>

namespace ablate {

// The SHA-256 of `data` as 64 lowercase hex characters. Empty only when OpenSSL cannot compute
// a digest at all (it fails on allocation failure alone); callers that must not store an empty
// digest check for it.
std::string Sha256Hex(std::string_view data);

// The same digest over bytes that arrive in pieces (a download's chunks): Update() any number of
// times, then HexDigest() once. HexDigest() of no Update() is the digest of "".
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // Finishes the digest; the object is not to be updated afterwards. Empty as Sha256Hex().
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace ablate

#endif  // ABLATE_PROTO_SHA256_H_
