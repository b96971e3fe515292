#include "server/auth/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ablate::auth {

absl::Status CheckName(std::string_view what, std::string_view name) {
  bool ok = !name.empty() && name.size() <= static_cast<size_t>(kMaxNameLength);
  for (char c : name) {
    ok = ok &&
         (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (ok) return absl::OkStatus();
  // The name is echoed escaped and cut short: it may be anything a person typed.
  const std::string_view shown = name.substr(0, kMaxNameLength);
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(what), " must be 1 to ", kMaxNameLength,
                   " characters of A-Z, a-z, 0-9, '.', '_' and '-' (got \"",
                   absl::CHexEscape(absl::string_view(shown.data(), shown.size())), "\"",
                   name.size() > shown.size() ? "..." : "", ")."));
}

}  // namespace ablate::auth
