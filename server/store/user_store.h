// The user store: classes, their users and the users' bearer tokens (kept as SHA-256 only).
// Implemented by SqliteStore, opened through Store::Open.
#ifndef ABLATE_SERVER_STORE_USER_STORE_H_
#define ABLATE_SERVER_STORE_USER_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ablate::store {

// What a user may do (see server/service/service.h for the rules).
enum class Role {
  kStudent,     // submits, cancels and deletes own jobs; reads every job of the class
  kInstructor,  // also cancels and deletes every job of the class
};

// "instructor" or "student": the role's name in the database and on the wire.
const char* RoleName(Role role);

// A user with their class, as the store returns them.
struct User {
  int64_t id = 0;
  std::string name;
  int64_t class_id = 0;
  std::string class_name;
  Role role = Role::kStudent;
  absl::Time created_at;
  int live_tokens = 0;  // tokens not revoked (ListUsers only; 0 elsewhere)
};

// Thread-safe: any thread may call any method.
class UserStore {
 public:
  virtual ~UserStore() = default;

  // Names are checked by the caller (server/auth/names.h); the
  // database's UNIQUE constraints make AlreadyExists, which names the class or user.

  // Creates a class; returns its id.
  virtual absl::StatusOr<int64_t> CreateClass(const std::string& name, absl::Time now) = 0;
  // Creates a user in an existing class (NotFound names the class).
  virtual absl::StatusOr<User> CreateUser(const std::string& class_name, const std::string& name,
                                          Role role, absl::Time now) = 0;
  // Records a token of a user by its SHA-256 (lowercase hex) and its first characters.
  // NotFound names the user.
  virtual absl::Status AddToken(const std::string& user_name, const std::string& sha256_hex,
                                const std::string& prefix, absl::Time now) = 0;
  // Revokes a user's live tokens, or only those whose prefix starts with `prefix` when it is not
  // empty. Returns how many were revoked. NotFound names the user.
  virtual absl::StatusOr<int> RevokeTokens(const std::string& user_name, const std::string& prefix,
                                           absl::Time now) = 0;
  // The user a live (not revoked) token belongs to, looked up by the token's SHA-256; none for
  // an unknown or revoked token.
  virtual absl::StatusOr<std::optional<User>> UserByToken(const std::string& sha256_hex) = 0;
  // Whether any user exists: authentication is required exactly when one does.
  virtual absl::StatusOr<bool> HasUsers() = 0;
  // Users of one class (every class when `class_name` is empty), by class then name, with
  // live_tokens filled in. NotFound for an unknown class.
  virtual absl::StatusOr<std::vector<User>> ListUsers(const std::string& class_name) = 0;
};

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_USER_STORE_H_
