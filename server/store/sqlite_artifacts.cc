// A job's files (ArtifactStore), kept in the artifacts table beside the job.
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

#include "absl/strings/ascii.h"
#include "proto/sha256.h"

namespace ablate::store {

absl::Status SqliteStore::PutArtifact(int64_t job_id, const Artifact& artifact) {
  if (artifact.name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("an artifact of job ", job_id, " has no name"));
  }
  // Hashed here, outside the write lock: a large file should not hold up the step stream.
  const std::string sha256 = Sha256Hex(artifact.data);
  if (sha256.empty()) return absl::InternalError("OpenSSL could not compute a SHA-256 digest");
  if (!artifact.sha256.empty() && absl::AsciiStrToLower(artifact.sha256) != sha256) {
    return absl::InvalidArgumentError(absl::StrCat("artifact \"", artifact.name, "\" of job ",
                                                   job_id, ": sha256 ", artifact.sha256,
                                                   " does not match its data (", sha256, ")"));
  }
  return Write([&](Connection& conn) -> absl::Status {
    STORE_RETURN_IF_ERROR(CheckJobExists(conn, job_id));
    // An upsert, not INSERT OR REPLACE: replacing keeps the row's id (REPLACE would delete
    // the row and insert a new one).
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("INSERT INTO artifacts (job_id, name, content_type, data, sha256) "
                     "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (job_id, name) DO UPDATE SET "
                     "content_type = excluded.content_type, data = excluded.data, "
                     "sha256 = excluded.sha256"));
    stmt.Bind(1, job_id).BindText(2, artifact.name).BindText(3, artifact.content_type);
    stmt.BindBlob(4, artifact.data).BindText(5, sha256);
    return stmt.Run();
  });
}

namespace {

// The statement `SELECT columns FROM artifacts` stepped onto job `job_id`'s file `name`, or
// NotFound naming the job or the file.
absl::StatusOr<Statement> SelectArtifact(Connection& conn, int64_t job_id,
                                         const std::string& name, absl::string_view columns) {
  STORE_RETURN_IF_ERROR(CheckJobExists(conn, job_id));
  STORE_ASSIGN_OR_RETURN(Statement stmt,
                         conn.Prepare(absl::StrCat("SELECT ", columns, " FROM artifacts "
                                                   "WHERE job_id = ?1 AND name = ?2")));
  stmt.Bind(1, job_id).BindText(2, name);
  STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no file \"", name, "\""));
  }
  return stmt;
}

}  // namespace

absl::StatusOr<Artifact> SqliteStore::GetArtifact(int64_t job_id, const std::string& name) {
  return Read([&](Connection& conn) -> absl::StatusOr<Artifact> {
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           SelectArtifact(conn, job_id, name, "content_type, data, sha256"));
    return Artifact{name, stmt.Text(0), stmt.Blob(1), stmt.Text(2)};
  });
}

absl::StatusOr<int64_t> SqliteStore::ArtifactSize(int64_t job_id, const std::string& name) {
  return Read([&](Connection& conn) -> absl::StatusOr<int64_t> {
    // length() of a blob reads the record's header, not the blob's pages.
    STORE_ASSIGN_OR_RETURN(Statement stmt, SelectArtifact(conn, job_id, name, "length(data)"));
    return stmt.Int(0);
  });
}

}  // namespace ablate::store
