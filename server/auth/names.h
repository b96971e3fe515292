// The names of classes and users.
#ifndef ABLATE_SERVER_AUTH_NAMES_H_
#define ABLATE_SERVER_AUTH_NAMES_H_

#include <string_view>

#include "absl/status/status.h"

namespace ablate::auth {

inline constexpr int kMaxNameLength = 64;

// OK when `name` is 1-64 characters of [A-Za-z0-9._-]: safe in a URL, a file name, a log line
// and a shell word without quoting. InvalidArgument otherwise, naming `what` ("class name",
// "user name") and the rule.
absl::Status CheckName(std::string_view what, std::string_view name);

}  // namespace ablate::auth

#endif  // ABLATE_SERVER_AUTH_NAMES_H_
