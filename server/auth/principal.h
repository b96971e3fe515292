// Who is calling: the user a bearer token belongs to, as the service layer's rules see them.
#ifndef ABLATE_SERVER_AUTH_PRINCIPAL_H_
#define ABLATE_SERVER_AUTH_PRINCIPAL_H_

#include <cstdint>
#include <optional>
#include <string>

#include "server/store/user_store.h"

namespace ablate::auth {

using Role = store::Role;

// An authenticated user.
struct Principal {
  int64_t user_id = 0;
  std::string name;  // also the owner of every job they submit
  int64_t class_id = 0;
  std::string class_name;
  Role role = Role::kStudent;

  static Principal FromUser(const store::User& user) {
    return Principal{user.id, user.name, user.class_id, user.class_name, user.role};
  }
};

// The caller of a service method: a principal when the server requires authentication, none
// when it does not (a server with no users: one person on loopback, who may do anything).
// Only Authenticator::Authenticate makes one from a request.
using Caller = std::optional<Principal>;

// "instructor" or "student".
using store::RoleName;

}  // namespace ablate::auth

#endif  // ABLATE_SERVER_AUTH_PRINCIPAL_H_
