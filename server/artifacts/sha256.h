// SHA-256 of a file's bytes, as every Artifact and the manifest record it.
#ifndef ABLATE_SERVER_ARTIFACTS_SHA256_H_
#define ABLATE_SERVER_ARTIFACTS_SHA256_H_

#include <string>
#include <string_view>

namespace ablate::artifacts {

// Lowercase hex, 64 characters.
std::string Sha256Hex(std::string_view data);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_SHA256_H_
