// The TLS files of --tls-cert and --tls-key, read and checked at start, so that a wrong file is
// refused with one sentence naming the flag and the path, not later by gRPC or the HTTP server
// with a message naming neither.
#ifndef ABLATE_SERVER_TLS_FILES_H_
#define ABLATE_SERVER_TLS_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ablate {

// The whole of a small file (a PEM certificate or key) that holds a "-----BEGIN `marker`" block,
// or InvalidArgument naming `flag` and `path`.
absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path,
                                    const std::string& marker);

// Checks that the certificate and key parse, that the key is the certificate's, and that the
// certificate has not expired; InvalidArgument names the flag and file at fault.
absl::Status CheckTlsPair(const std::string& cert_pem, const std::string& cert_path,
                          const std::string& key_pem, const std::string& key_path);

}  // namespace ablate

#endif  // ABLATE_SERVER_TLS_FILES_H_
