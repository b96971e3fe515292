// Jobs and runs: creating, reading, listing, counting and deleting them, and the Slurm
// dispatch record of a run.
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
#include "server/store/job_notes.h"
#include "server/store/sqlite_codecs.h"
#include "server/store/sqlite_store.h"
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace ablate::store {

namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

}  // namespace

absl::StatusOr<JobRecord> SqliteStore::CreateJob(const NewJob& job, const std::string& owner,
                                                 absl::Time now, std::optional<int64_t> class_id) {
  // Read back as the spec's bytes by GetJob: an empty spec could not have come from a resolved
  // one (it has runs), and is what a missing blob would read as.
  if (job.spec_proto.empty()) return absl::InvalidArgumentError("the job's spec is empty");
  return Write([&](Connection& conn) -> absl::StatusOr<JobRecord> {
    STORE_ASSIGN_OR_RETURN(
        Statement insert_job,
        conn.Prepare("INSERT INTO jobs (name, owner, state, spec, spec_proto, created_at, "
                     "class_id) VALUES (?1, ?2, 'queued', ?3, ?6, ?4, ?5)"));
    insert_job.BindText(1, job.name).BindText(2, owner).BindText(3, job.spec_json);
    insert_job.BindBlob(6, job.spec_proto);
    if (class_id) insert_job.Bind(5, *class_id);
    STORE_RETURN_IF_ERROR(insert_job.Bind(4, ToMillis(now)).Run());
    const int64_t job_id = sqlite3_last_insert_rowid(conn.db());
    for (size_t i = 0; i < job.runs.size(); ++i) {
      const RunInit& run = job.runs[i];
      STORE_ASSIGN_OR_RETURN(
          Statement insert_run,
          conn.Prepare("INSERT INTO runs (job_id, idx, init, weight_seed, uniform_low, "
                       "uniform_high, state, outcome) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 'queued')"));
      insert_run.Bind(1, job_id).Bind(2, static_cast<int64_t>(i)).BindText(3, run.init);
      if (run.weight_seed) insert_run.Bind(4, static_cast<int64_t>(*run.weight_seed));
      if (run.uniform_low) insert_run.Bind(5, *run.uniform_low);
      if (run.uniform_high) insert_run.Bind(6, *run.uniform_high);
      STORE_RETURN_IF_ERROR(insert_run.Run());
    }
    // Read back rather than assembled here, so the caller gets exactly what GetJob will return
    // (created_at in whole milliseconds, for one).
    return LoadJob(conn, job_id);
  });
}

absl::StatusOr<JobRecord> SqliteStore::GetJob(int64_t job_id) {
  return Read([&](Connection& conn) { return LoadJob(conn, job_id); });
}

absl::StatusOr<RunRecord> SqliteStore::GetRun(int64_t run_id) {
  return Read([&](Connection& conn) { return LoadRun(conn, run_id); });
}

absl::StatusOr<JobPage> SqliteStore::ListJobs(const JobQuery& query,
                                              std::optional<int64_t> class_id) {
  // Validate everything before touching the database, so errors are about the query.
  const int page_size = query.page_size == 0 ? kDefaultPageSize : query.page_size;
  if (page_size < 1 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be between 1 and ", kMaxPageSize,
                                                   " (0 means ", kDefaultPageSize, "), got ",
                                                   query.page_size));
  }
  // The token is "j" and the id of the previous page's last job: the next page is the jobs
  // below it. Opaque to clients; it stays valid however many jobs are added meanwhile.
  std::optional<int64_t> before_id;
  if (!query.page_token.empty()) {
    absl::string_view digits = query.page_token;
    int64_t id = 0;
    bool ok = digits.size() >= 2 && digits.size() <= 20 && digits[0] == 'j' && digits[1] != '0';
    digits.remove_prefix(1);
    ok = ok && std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) &&
         absl::SimpleAtoi(digits, &id);
    if (!ok) {
      return absl::InvalidArgumentError(
          "page_token is malformed: pass the next_page_token of a previous ListJobs response");
    }
    before_id = id;
  }
  std::string states_json;
  for (size_t i = 0; i < query.states.size(); ++i) {
    const char* name = StateName(query.states[i]);
    if (name == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "states[", i, "]: ", static_cast<int>(query.states[i]),
          " is not a job state (1–5: QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)"));
    }
    absl::StrAppend(&states_json, states_json.empty() ? "[" : ",", "\"", name, "\"");
  }
  if (!states_json.empty()) states_json += "]";
  std::optional<int64_t> created_after, created_before;
  if (query.created_after) created_after = ToMillisCeil(*query.created_after);
  if (query.created_before) created_before = ToMillisCeil(*query.created_before);

  // The query is assembled from constant fragments, one per filter present, so that SQLite
  // plans each combination on its own (owner → jobs_by_owner, states → jobs_by_state, none →
  // the primary key walked downwards from the token); every value is a bound parameter. There
  // are at most 2^9 such texts, each prepared once per connection.
  std::string sql = "SELECT id FROM jobs WHERE 1";
  if (before_id) sql += " AND id < :before_id";
  if (class_id) sql += " AND class_id = :class_id";
  if (!query.owner.empty()) sql += " AND owner = :owner";
  if (!states_json.empty()) sql += " AND state IN (SELECT value FROM json_each(:states))";
  // A job's runs are found through runs(job_id, idx): a handful of rows per job.
  if (!query.init.empty()) {
    sql += " AND EXISTS (SELECT 1 FROM runs WHERE runs.job_id = jobs.id AND runs.init = :init)";
  }
  // instr, not LIKE: case-sensitive as the API says, and no wildcard characters to escape.
  if (!query.name_contains.empty()) sql += " AND instr(name, :name) > 0";
  if (!query.tag.empty()) {
    sql += " AND EXISTS (SELECT 1 FROM job_tags WHERE job_id = jobs.id AND tag = :tag)";
  }
  if (created_after) sql += " AND created_at >= :created_after";
  if (created_before) sql += " AND created_at < :created_before";
  sql += " ORDER BY id DESC LIMIT :limit";

  return Read([&](Connection& conn) -> absl::StatusOr<JobPage> {
    std::vector<int64_t> ids;
    {
      STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
      auto bind = [&stmt](const char* name) { return stmt.ParameterIndex(name); };
      if (before_id) stmt.Bind(bind(":before_id"), *before_id);
      if (class_id) stmt.Bind(bind(":class_id"), *class_id);
      if (!query.owner.empty()) stmt.BindText(bind(":owner"), query.owner);
      if (!states_json.empty()) stmt.BindText(bind(":states"), states_json);
      if (!query.init.empty()) stmt.BindText(bind(":init"), query.init);
      if (!query.name_contains.empty()) {
        stmt.BindText(bind(":name"), query.name_contains);
      }
      if (!query.tag.empty()) stmt.BindText(bind(":tag"), query.tag);
      if (created_after) stmt.Bind(bind(":created_after"), *created_after);
      if (created_before) stmt.Bind(bind(":created_before"), *created_before);
      // One more than a page: whether it comes back says if there is a next page.
      stmt.Bind(bind(":limit"), int64_t{page_size} + 1);
      while (true) {
        STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        ids.push_back(stmt.Int(0));
      }
    }
    JobPage page;
    const bool more = ids.size() > static_cast<size_t>(page_size);
    if (more) ids.resize(page_size);
    for (int64_t id : ids) {
      STORE_ASSIGN_OR_RETURN(JobRecord job, LoadJob(conn, id));
      page.jobs.push_back(std::move(job));
    }
    if (more) page.next_page_token = absl::StrCat("j", ids.back());
    return page;
  });
}

absl::StatusOr<std::vector<int64_t>> SqliteStore::UnfinishedJobs() {
  return Read([](Connection& conn) -> absl::StatusOr<std::vector<int64_t>> {
    // Two ranges of jobs_by_state, merged by id.
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY id"));
    std::vector<int64_t> ids;
    while (true) {
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      ids.push_back(stmt.Int(0));
    }
    return ids;
  });
}

absl::StatusOr<int> SqliteStore::CountActiveJobs(const std::string& owner) {
  return Read([&](Connection& conn) -> absl::StatusOr<int> {
    // The owner's range of jobs_by_owner; a user has at most a few hundred jobs.
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn.Prepare("SELECT count(*) FROM jobs "
                                        "WHERE owner = ?1 AND state IN ('queued', 'running')"));
    stmt.BindText(1, owner);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row ? static_cast<int>(stmt.Int(0)) : 0;
  });
}
// --- Job access and deletion ----------------------------------------------------------------

absl::StatusOr<JobAccess> SqliteStore::GetJobAccess(int64_t job_id) {
  return Read([&](Connection& conn) -> absl::StatusOr<JobAccess> {
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn.Prepare("SELECT owner, class_id, state FROM jobs WHERE id = ?1"));
    stmt.Bind(1, job_id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundJob(job_id);
    JobAccess access;
    access.owner = stmt.Text(0);
    if (!stmt.IsNull(1)) access.class_id = stmt.Int(1);
    STORE_ASSIGN_OR_RETURN(access.state, JobStateFromName(stmt.Text(2)));
    return access;
  });
}

absl::Status SqliteStore::DeleteJob(int64_t job_id) {
  return Write([&](Connection& conn) -> absl::Status {
    {
      STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT state FROM jobs WHERE id = ?1"));
      stmt.Bind(1, job_id);
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return NotFoundJob(job_id);
      const std::string state = stmt.Text(0);
      if (state == "queued" || state == "running") {
        return absl::FailedPreconditionError(
            absl::StrCat("job ", job_id, " is ", state, "; cancel it first, then delete it"));
      }
    }
    // Children first: the foreign keys refuse the job's row while anything refers to it. Steps
    // and evals are found through their primary keys' run_id prefix.
    for (const char* sql :
         {"DELETE FROM steps WHERE run_id IN (SELECT id FROM runs WHERE job_id = ?1)",
          "DELETE FROM evals WHERE run_id IN (SELECT id FROM runs WHERE job_id = ?1)",
          "DELETE FROM set_aside_steps WHERE run_id IN (SELECT id FROM runs WHERE job_id = ?1)",
          "DELETE FROM set_aside_evals WHERE run_id IN (SELECT id FROM runs WHERE job_id = ?1)",
          "DELETE FROM run_restarts WHERE run_id IN (SELECT id FROM runs WHERE job_id = ?1)",
          "DELETE FROM artifacts WHERE job_id = ?1", "DELETE FROM runs WHERE job_id = ?1",
          "DELETE FROM jobs WHERE id = ?1"}) {
      STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
      STORE_RETURN_IF_ERROR(stmt.Bind(1, job_id).Run());
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::PutSlurmDispatch(int64_t run_id, const SlurmDispatch& dispatch) {
  return Write([&](Connection& conn) -> absl::Status {
    STORE_ASSIGN_OR_RETURN(Statement exists, conn.Prepare("SELECT 1 FROM runs WHERE id = ?1"));
    exists.Bind(1, run_id);
    STORE_ASSIGN_OR_RETURN(bool row, exists.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("there is no run with id ", run_id));
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("INSERT INTO slurm_dispatches (run_id, slurm_job_id, secret_sha256, "
                     "dispatches) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (run_id) DO UPDATE SET "
                     "slurm_job_id = excluded.slurm_job_id, secret_sha256 = "
                     "excluded.secret_sha256, dispatches = excluded.dispatches"));
    stmt.Bind(1, run_id).Bind(2, dispatch.slurm_job_id).BindText(3, dispatch.secret_sha256);
    stmt.Bind(4, static_cast<int64_t>(dispatch.dispatches));
    return stmt.Run();
  });
}

absl::StatusOr<std::optional<SlurmDispatch>> SqliteStore::GetSlurmDispatch(int64_t run_id) {
  return Read([&](Connection& conn) -> absl::StatusOr<std::optional<SlurmDispatch>> {
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn.Prepare("SELECT slurm_job_id, secret_sha256, dispatches FROM "
                                        "slurm_dispatches WHERE run_id = ?1"));
    stmt.Bind(1, run_id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::optional<SlurmDispatch>();
    return std::optional<SlurmDispatch>(SlurmDispatch{.slurm_job_id = stmt.Int(0),
                                                      .secret_sha256 = stmt.Text(1),
                                                      .dispatches = static_cast<int>(stmt.Int(2))});
  });
}

absl::StatusOr<std::map<JobState, int64_t>> SqliteStore::CountJobs() {
  return Read([](Connection& conn) -> absl::StatusOr<std::map<JobState, int64_t>> {
    // jobs_by_state makes this an index scan, not a table scan.
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn.Prepare("SELECT state, count(*) FROM jobs GROUP BY state"));
    std::map<JobState, int64_t> counts;
    while (true) {
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      STORE_ASSIGN_OR_RETURN(JobState state, JobStateFromName(stmt.Text(0)));
      counts[state] = stmt.Int(1);
    }
    return counts;
  });
}

absl::Status SqliteStore::SetJobNotes(int64_t job_id, const std::string& note,
                                      const std::vector<std::string>& tags) {
  return Write([&](Connection& conn) { return WriteJobNotes(conn, job_id, note, tags); });
}

}  // namespace ablate::store
