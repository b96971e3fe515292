#include "server/store/migrations.h"

#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "server/store/numbers.h"

namespace ablate::store {
namespace {

// schema.sql, embedded by CMake as a raw string literal (see CMakeLists.txt).
constexpr char kSchemaV1[] =
#include "server/store/schema_sql.inc"
    ;

// Appending is the only way to change the schema: a released migration is never edited, since
// files in the field are already at its version. Each new entry gets the next version number
// and, usually, a few ALTER TABLE / CREATE INDEX statements inline here. (A migration that
// rebuilds a table must run with foreign keys off, which PRAGMA cannot change inside a
// transaction: give the runner a flag for that when the first one is needed.)
// Version 2: a class of users, their bearer tokens, and the class each job belongs to.
// Conventions as in schema.sql. Tokens are stored as the SHA-256 of the token text only, so a
// copy of the database does not give anyone a working token; `prefix` is the token's first
// characters (not enough to guess the rest), so that a person can tell tokens apart and revoke
// one by it.
constexpr char kSchemaV2[] = R"sql(
-- A class: one instructor and the students they issue tokens to.
CREATE TABLE classes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  created_at INTEGER NOT NULL
) STRICT;

-- A person. Names are unique server-wide: a job's owner is its user's name.
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  class_id INTEGER NOT NULL REFERENCES classes (id),
  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  role TEXT NOT NULL CHECK (role IN ('instructor', 'student')),
  created_at INTEGER NOT NULL
) STRICT;

-- admin list: the users of a class.
CREATE INDEX users_by_class ON users (class_id, name);

-- A bearer token of a user. Every authenticated call looks its hash up in sha256's index.
CREATE TABLE tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id),
  sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),  -- lowercase hex of the token
  prefix TEXT NOT NULL,                  -- the token's first characters, to name it by
  created_at INTEGER NOT NULL,
  revoked_at INTEGER                     -- NULL while the token works
) STRICT;

-- Revoking a user's tokens.
CREATE INDEX tokens_by_user ON tokens (user_id);

-- The class a job was submitted in; NULL for a job submitted while the server had no users.
ALTER TABLE jobs ADD COLUMN class_id INTEGER REFERENCES classes (id);

-- ListJobs within a class, newest first.
CREATE INDEX jobs_by_class ON jobs (class_id, id);
)sql";

// Version 3: numbers that survive the round trip. Until version 2 the spec was read back from
// its JSON, and layer statistics were protobuf's JSON, whose non-finite numbers are the strings
// "NaN", "Infinity" and "-Infinity" and whose -0.0 reads back as 0. Now:
// * jobs.spec_proto holds the spec as binary protobuf (v1.JobSpec), the only copy read back;
//   jobs.spec stays, unchanged, as a JSON view for SQL and people (where -0.0 reads as 0).
// * runs.init_stats and runs.final_stats write a non-finite number as the columns do: null,
//   with "<field>_class": "nan", "inf" or "-inf" beside it (numbers.h), so that
//   json_extract(init_stats, '$[0].activation_std') is a number or NULL, never a string.
// RewriteV3 converts the rows written before.
constexpr char kSchemaV3[] = R"sql(
ALTER TABLE jobs ADD COLUMN spec_proto BLOB NOT NULL DEFAULT x'';
)sql";

absl::Status Corrupt(absl::string_view what, const google::protobuf::util::Status& status) {
  return absl::DataLossError(
      absl::StrCat(what, " in the database is not valid JSON of its message: ", status.ToString()));
}

// Version 2 kept per-layer statistics in protobuf's JSON mapping of LayerStats; the message is
// only the reader of that old text here.
std::vector<LayerStatsRecord> V3Stats(const google::protobuf::RepeatedPtrField<v1::LayerStats>& in) {
  std::vector<LayerStatsRecord> out;
  for (const v1::LayerStats& layer : in) {
    LayerStatsRecord& record = out.emplace_back();
    record.weight_variance = layer.weight_variance();
    record.activation_mean = layer.activation_mean();
    record.activation_std = layer.activation_std();
    if (layer.has_first_step_grad_norm()) record.first_step_grad_norm = layer.first_step_grad_norm();
  }
  return out;
}

absl::Status RewriteV3(Connection& conn) {
  {
    STORE_ASSIGN_OR_RETURN(Statement jobs, conn.Prepare("SELECT id, spec FROM jobs"));
    for (;;) {
      STORE_ASSIGN_OR_RETURN(bool row, jobs.Step());
      if (!row) break;
      const int64_t id = jobs.Int(0);
      const std::string json = jobs.Text(1);
      v1::JobSpec spec;
      if (auto s = google::protobuf::util::JsonStringToMessage(json, &spec); !s.ok()) {
        return Corrupt(absl::StrCat("the spec of job ", id), s);
      }
      STORE_ASSIGN_OR_RETURN(Statement update,
                             conn.Prepare("UPDATE jobs SET spec_proto = ?2 WHERE id = ?1"));
      STORE_RETURN_IF_ERROR(update.Bind(1, id).BindBlob(2, spec.SerializeAsString()).Run());
    }
  }
  STORE_ASSIGN_OR_RETURN(Statement runs, conn.Prepare("SELECT id, init_stats, final_stats FROM runs "
                                                      "WHERE init_stats <> '[]' OR "
                                                      "final_stats <> '[]'"));
  for (;;) {
    STORE_ASSIGN_OR_RETURN(bool row, runs.Step());
    if (!row) break;
    const int64_t id = runs.Int(0);
    // Protobuf parses messages, not arrays: each array is parsed as a Run's init_stats.
    v1::Run init, last;
    auto s = google::protobuf::util::JsonStringToMessage(
        absl::StrCat("{\"init_stats\":", runs.Text(1), "}"), &init);
    if (!s.ok()) return Corrupt(absl::StrCat("init_stats of run ", id), s);
    s = google::protobuf::util::JsonStringToMessage(
        absl::StrCat("{\"init_stats\":", runs.Text(2), "}"), &last);
    if (!s.ok()) return Corrupt(absl::StrCat("final_stats of run ", id), s);
    STORE_ASSIGN_OR_RETURN(
        Statement update,
        conn.Prepare("UPDATE runs SET init_stats = ?2, final_stats = ?3 WHERE id = ?1"));
    update.Bind(1, id).BindText(2, StatsToJson(V3Stats(init.init_stats())));
    STORE_RETURN_IF_ERROR(update.BindText(3, StatsToJson(V3Stats(last.init_stats()))).Run());
  }
  return absl::OkStatus();
}

// Version 4: the build each run trained under, and runs that started over from step 0.
// A run resumed under another build (or whose replayed steps came out different) starts over
// rather than splicing two trainings into one trajectory; the steps and evaluations it had are
// not deleted but moved to the set_aside_* tables, under the sequence number of the restart
// that set them aside, and the restart's reason is kept in one sentence.
constexpr char kSchemaV4[] = R"sql(
-- The fingerprint id (core/fingerprint.h) of the build that trained the run's recorded steps:
-- set by each RunStarted; NULL for runs that never started (or started before version 4).
ALTER TABLE runs ADD COLUMN fingerprint TEXT;
-- The latest restart of the run: its sequence number (ReadUpdate's runs_restarted) and why.
ALTER TABLE runs ADD COLUMN restarted_seq INTEGER;
ALTER TABLE runs ADD COLUMN restart_reason TEXT NOT NULL DEFAULT '';

-- Every restart of a run from step 0.
CREATE TABLE run_restarts (
  run_id INTEGER NOT NULL REFERENCES runs (id),
  seq INTEGER NOT NULL,                  -- the restart's sequence number in its job
  at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  steps_set_aside INTEGER NOT NULL,      -- rows moved to set_aside_steps
  PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

-- Steps of a run recorded before a restart, as they were in steps.
CREATE TABLE set_aside_steps (
  run_id INTEGER NOT NULL REFERENCES runs (id),
  restart_seq INTEGER NOT NULL,          -- run_restarts.seq of the restart that set them aside
  step INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  loss ANY CHECK (loss IS NULL OR typeof(loss) = 'real'),
  loss_class TEXT,
  weight_grad_norm ANY CHECK (weight_grad_norm IS NULL OR typeof(weight_grad_norm) = 'real'),
  weight_grad_norm_class TEXT,
  seconds ANY NOT NULL CHECK (typeof(seconds) = 'real'),
  PRIMARY KEY (run_id, restart_seq, step)
) STRICT, WITHOUT ROWID;

-- Evaluations of a run recorded before a restart.
CREATE TABLE set_aside_evals (
  run_id INTEGER NOT NULL REFERENCES runs (id),
  restart_seq INTEGER NOT NULL,
  step INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  loss ANY CHECK (loss IS NULL OR typeof(loss) = 'real'),
  loss_class TEXT,
  accuracy ANY NOT NULL CHECK (typeof(accuracy) = 'real'),
  PRIMARY KEY (run_id, restart_seq, step)
) STRICT, WITHOUT ROWID;
)sql";

// Version 5: where a run trains when the server hands it to Slurm. One row per run that has
// been submitted as a Slurm job, kept after the run ends (for the record) and deleted with it.
constexpr char kSchemaV5[] = R"sql(
CREATE TABLE slurm_dispatches (
  run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  slurm_job_id INTEGER NOT NULL CHECK (slurm_job_id > 0),  -- the latest submission's job
  -- SHA-256 (lowercase hex) of the latest submission's worker secret: a worker that reconnects
  -- after a server restart proves it is that job's worker. The secret itself is never stored.
  secret_sha256 TEXT NOT NULL CHECK (length(secret_sha256) = 64),
  dispatches INTEGER NOT NULL CHECK (dispatches >= 1)      -- submissions so far
) STRICT;
)sql";

// Version 6: a job's note and tags, written by its owner or the class's instructor after it was
// submitted ("lr too high", tags "week-3", "baseline"). Kept apart from jobs so that the spec and
// the recorded history stay as submitted; deleted with their job.
constexpr char kSchemaV6[] = R"sql(
CREATE TABLE job_notes (
  job_id INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  note TEXT NOT NULL CHECK (length(note) BETWEEN 1 AND 4000)  -- no row for an empty note
) STRICT;

CREATE TABLE job_tags (
  job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  tag TEXT NOT NULL CHECK (length(tag) BETWEEN 1 AND 32),
  PRIMARY KEY (job_id, tag)
) STRICT, WITHOUT ROWID;

-- ListJobs' tag filter: the jobs carrying a tag.
CREATE INDEX job_tags_by_tag ON job_tags (tag, job_id);
)sql";

constexpr Migration kMigrations[] = {
    {1, kSchemaV1},
    {2, kSchemaV2},
    {3, kSchemaV3, &RewriteV3},
    {4, kSchemaV4},
    {5, kSchemaV5},
    {6, kSchemaV6},
};

absl::Status Check(Connection& conn, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return absl::InternalError(absl::StrCat("migration ", i, " has version ",
                                              migrations[i].version, ", expected ", i + 1));
    }
  }
  const int latest = static_cast<int>(migrations.size());
  STORE_ASSIGN_OR_RETURN(int64_t app_id, conn.QueryInt("PRAGMA application_id"));
  STORE_ASSIGN_OR_RETURN(int64_t version, conn.QueryInt("PRAGMA user_version"));
  if (app_id != 0 && app_id != kApplicationId) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is not an Ablate database (its application_id is 0x%08x)", conn.path(),
                        static_cast<uint32_t>(app_id)));
  }
  if (version == 0) {
    STORE_ASSIGN_OR_RETURN(int64_t tables, conn.QueryInt("SELECT count(*) FROM sqlite_schema"));
    if (tables > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          conn.path(), " is not an Ablate database (it has tables but no Ablate schema version)"));
    }
  }
  if (version > latest) {
    return absl::FailedPreconditionError(
        absl::StrCat(conn.path(), " has schema version ", version, ", newer than version ", latest,
                     " that this build of Ablate knows; open it with a newer ablate-server"));
  }
  return absl::OkStatus();
}

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

absl::Status Migrate(Connection& conn, std::span<const Migration> migrations) {
  for (const Migration& migration : migrations) {
    // The version is read again inside each write transaction: another process may have
    // migrated the file since, and the write lock makes the check and the change one step.
    Transaction txn(conn);
    STORE_RETURN_IF_ERROR(txn.Begin(Transaction::Mode::kWrite));
    STORE_RETURN_IF_ERROR(Check(conn, migrations));
    STORE_ASSIGN_OR_RETURN(int64_t version, conn.QueryInt("PRAGMA user_version"));
    if (migration.version <= version) continue;  // the destructor ends the empty transaction
    absl::Status s = conn.Exec(migration.sql);
    if (s.ok() && migration.rewrite != nullptr) s = migration.rewrite(conn);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("migrating ", conn.path(), " to schema version ",
                                                 migration.version, ": ", s.message()));
    }
    // PRAGMA takes no parameters; these are integers of our own, not outside input.
    STORE_RETURN_IF_ERROR(
        conn.Exec(absl::StrCat("PRAGMA user_version = ", migration.version).c_str()));
    STORE_RETURN_IF_ERROR(
        conn.Exec(absl::StrCat("PRAGMA application_id = ", kApplicationId).c_str()));
    STORE_RETURN_IF_ERROR(txn.Commit());
  }
  // A file already at the latest version (or an empty list) still gets checked.
  Transaction txn(conn);
  STORE_RETURN_IF_ERROR(txn.Begin(Transaction::Mode::kRead));
  STORE_RETURN_IF_ERROR(Check(conn, migrations));
  return txn.Commit();
}

}  // namespace ablate::store
