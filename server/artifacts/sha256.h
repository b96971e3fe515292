// SHA-256 of a file's bytes, as every Artifact and the manifest record it: the project's one
// function (common/sha256.h), named here for the artifacts code.
#ifndef ABLATE_SERVER_ARTIFACTS_SHA256_H_
#define ABLATE_SERVER_ARTIFACTS_SHA256_H_

#include "common/sha256.h"

namespace ablate::artifacts {

// Lowercase hex, 64 characters.
using common::Sha256Hex;

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_SHA256_H_
