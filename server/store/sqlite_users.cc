// Classes, users and tokens (UserStore).
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/store/sqlite_codecs.h"
#include "server/store/sqlite_store.h"

namespace ablate::store {

// --- Classes, users and tokens ------------------------------------------------------------------

const char* RoleName(Role role) { return role == Role::kInstructor ? "instructor" : "student"; }

namespace {

// The users columns a User is made of, joined with the class's name.
constexpr char kUserSelect[] =
    "SELECT users.id, users.name, users.class_id, classes.name, users.role, users.created_at "
    "FROM users JOIN classes ON classes.id = users.class_id";

User UserFromRow(const Statement& row) {
  User user;
  user.id = row.Int(0);
  user.name = row.Text(1);
  user.class_id = row.Int(2);
  user.class_name = row.Text(3);
  user.role = row.Text(4) == "instructor" ? Role::kInstructor : Role::kStudent;
  user.created_at = absl::FromUnixMillis(row.Int(5));
  return user;
}

absl::StatusOr<int64_t> UserId(Connection& conn, const std::string& name) {
  STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT id FROM users WHERE name = ?1"));
  stmt.BindText(1, name);
  STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("there is no user named \"", name, "\""));
  return stmt.Int(0);
}

absl::StatusOr<std::optional<int64_t>> ClassId(Connection& conn, const std::string& name) {
  STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT id FROM classes WHERE name = ?1"));
  stmt.BindText(1, name);
  STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(stmt.Int(0));
}

}  // namespace

absl::StatusOr<int64_t> SqliteStore::CreateClass(const std::string& name, absl::Time now) {
  return Write([&](Connection& conn) -> absl::StatusOr<int64_t> {
    STORE_ASSIGN_OR_RETURN(std::optional<int64_t> existing, ClassId(conn, name));
    if (existing) {
      return absl::AlreadyExistsError(absl::StrCat("a class named \"", name, "\" already exists"));
    }
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn.Prepare("INSERT INTO classes (name, created_at) VALUES (?1, ?2)"));
    STORE_RETURN_IF_ERROR(stmt.BindText(1, name).Bind(2, ToMillis(now)).Run());
    return static_cast<int64_t>(sqlite3_last_insert_rowid(conn.db()));
  });
}

absl::StatusOr<User> SqliteStore::CreateUser(const std::string& class_name, const std::string& name,
                                             Role role, absl::Time now) {
  return Write([&](Connection& conn) -> absl::StatusOr<User> {
    STORE_ASSIGN_OR_RETURN(std::optional<int64_t> class_id, ClassId(conn, class_name));
    if (!class_id) {
      return absl::NotFoundError(absl::StrCat("there is no class named \"", class_name, "\""));
    }
    if (UserId(conn, name).ok()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "a user named \"", name, "\" already exists (user names are unique on the server)"));
    }
    STORE_ASSIGN_OR_RETURN(Statement insert,
                           conn.Prepare("INSERT INTO users (class_id, name, role, created_at) "
                                        "VALUES (?1, ?2, ?3, ?4)"));
    insert.Bind(1, *class_id).BindText(2, name).BindText(3, RoleName(role));
    STORE_RETURN_IF_ERROR(insert.Bind(4, ToMillis(now)).Run());
    const int64_t id = sqlite3_last_insert_rowid(conn.db());
    static const std::string kSql = absl::StrCat(kUserSelect, " WHERE users.id = ?1");
    STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(kSql));
    stmt.Bind(1, id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return absl::InternalError("a user just inserted cannot be read back");
    return UserFromRow(stmt);
  });
}

absl::Status SqliteStore::AddToken(const std::string& user_name, const std::string& sha256_hex,
                                   const std::string& prefix, absl::Time now) {
  return Write([&](Connection& conn) -> absl::Status {
    STORE_ASSIGN_OR_RETURN(int64_t user_id, UserId(conn, user_name));
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn.Prepare("INSERT INTO tokens (user_id, sha256, prefix, created_at) "
                                        "VALUES (?1, ?2, ?3, ?4)"));
    stmt.Bind(1, user_id).BindText(2, sha256_hex).BindText(3, prefix);
    return stmt.Bind(4, ToMillis(now)).Run();
  });
}

absl::StatusOr<int> SqliteStore::RevokeTokens(const std::string& user_name,
                                              const std::string& prefix, absl::Time now) {
  return Write([&](Connection& conn) -> absl::StatusOr<int> {
    STORE_ASSIGN_OR_RETURN(int64_t user_id, UserId(conn, user_name));
    // substr, not LIKE: a prefix is compared as text, with no wildcard characters to escape.
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("UPDATE tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL "
                     "AND substr(prefix, 1, length(?3)) = ?3"));
    stmt.Bind(1, user_id).Bind(2, ToMillis(now)).BindText(3, prefix);
    STORE_RETURN_IF_ERROR(stmt.Run());
    return static_cast<int>(sqlite3_changes(conn.db()));
  });
}

absl::StatusOr<std::optional<User>> SqliteStore::UserByToken(const std::string& sha256_hex) {
  return Read([&](Connection& conn) -> absl::StatusOr<std::optional<User>> {
    static const std::string kSql =
        absl::StrCat(kUserSelect,
                     " JOIN tokens ON tokens.user_id = users.id "
                     "WHERE tokens.sha256 = ?1 AND tokens.revoked_at IS NULL");
    STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(kSql));
    stmt.BindText(1, sha256_hex);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::optional<User>();
    return std::optional<User>(UserFromRow(stmt));
  });
}

absl::StatusOr<bool> SqliteStore::HasUsers() {
  return Read([&](Connection& conn) -> absl::StatusOr<bool> {
    STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT EXISTS (SELECT 1 FROM users)"));
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row && stmt.Int(0) != 0;
  });
}

absl::StatusOr<std::vector<User>> SqliteStore::ListUsers(const std::string& class_name) {
  return Read([&](Connection& conn) -> absl::StatusOr<std::vector<User>> {
    if (!class_name.empty()) {
      STORE_ASSIGN_OR_RETURN(std::optional<int64_t> class_id, ClassId(conn, class_name));
      if (!class_id) {
        return absl::NotFoundError(absl::StrCat("there is no class named \"", class_name, "\""));
      }
    }
    static const std::string kSql = absl::StrCat(
        "SELECT users.id, users.name, users.class_id, classes.name, users.role, users.created_at, "
        "(SELECT count(*) FROM tokens WHERE tokens.user_id = users.id AND revoked_at IS NULL) "
        "FROM users JOIN classes ON classes.id = users.class_id "
        "WHERE ?1 = '' OR classes.name = ?1 ORDER BY classes.name, users.name");
    STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(kSql));
    stmt.BindText(1, class_name);
    std::vector<User> users;
    while (true) {
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      users.push_back(UserFromRow(stmt));
      users.back().live_tokens = static_cast<int>(stmt.Int(6));
    }
    return users;
  });
}

}  // namespace ablate::store
