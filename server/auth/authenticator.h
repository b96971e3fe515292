// The authenticator: a request's bearer token to the caller it stands for.
//
// Authentication is on exactly when the store holds at least one user, checked on every call
// (one indexed read), so creating the first user with `ablate-server admin` switches it on
// without a restart. Nothing is cached: a revoked token fails on the very next call.
#ifndef ABLATE_SERVER_AUTH_AUTHENTICATOR_H_
#define ABLATE_SERVER_AUTH_AUTHENTICATOR_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "server/auth/principal.h"
#include "server/store/user_store.h"

namespace ablate::auth {

// Thread-safe.
class Authenticator {
 public:
  // Borrows the store, which must outlive the authenticator.
  explicit Authenticator(store::UserStore& store) : store_(store) {}

  // The caller `token` (the bare token, or empty when the request carried none) stands for:
  // none when authentication is off (whatever the token), the token's user when it is on.
  // Unauthenticated, with a sentence saying what to do, for a missing, unknown or revoked token
  // while it is on; the store's error when it cannot be read.
  absl::StatusOr<Caller> Authenticate(std::string_view token);

  // Whether calls need a token now.
  absl::StatusOr<bool> Enabled();

 private:
  store::UserStore& store_;
};

}  // namespace ablate::auth

#endif  // ABLATE_SERVER_AUTH_AUTHENTICATOR_H_
