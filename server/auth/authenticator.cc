#include "server/auth/authenticator.h"

#include <string>

#include "server/auth/token.h"

namespace ablate::auth {

absl::StatusOr<bool> Authenticator::Enabled() { return store_.HasUsers(); }

absl::StatusOr<Caller> Authenticator::Authenticate(std::string_view token) {
  absl::StatusOr<bool> enabled = Enabled();
  if (!enabled.ok()) return enabled.status();
  if (!*enabled) return Caller();
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "this server needs a token: send it as \"Authorization: Bearer <token>\" (the ablate "
        "CLI: --token or ABLATE_TOKEN); your instructor issues tokens.");
  }
  // Looked up by its hash: the lookup key reveals nothing, so no constant-time compare is
  // needed, and the token itself never reaches the database or a log.
  absl::StatusOr<std::optional<store::User>> user = store_.UserByToken(TokenHash(token));
  if (!user.ok()) return user.status();
  if (!user->has_value()) {
    return absl::UnauthenticatedError(
        "the token is not valid (mistyped, or revoked): ask your instructor for a new one.");
  }
  return Caller(Principal::FromUser(**user));
}

}  // namespace ablate::auth
