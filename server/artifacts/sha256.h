// SHA-256 of a file's bytes, as every Artifact and the manifest record it: the project's one
// function (server/store/sha256.h), named here for the artifacts code.
#ifndef ABLATE_SERVER_ARTIFACTS_SHA256_H_
#define ABLATE_SERVER_ARTIFACTS_SHA256_H_

#include "server/store/sha256.h"

namespace ablate::artifacts {

// Lowercase hex, 64 characters.
using store::Sha256Hex;

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_SHA256_H_
