// How the store works, in brief (schema.sql has the tables):
//
// * Connections. One write connection, used under write_mu_, carries every transaction that
//   changes the database; a pool of read connections serves everything else, each read in a
//   transaction of its own, so a read is one consistent snapshot while WAL lets it run beside
//   the writer. ":memory:" has no pool: a second connection would open a second, empty
//   database, so reads share the write connection and its mutex.
// * SQL. Every statement is constant text prepared once per connection and cached; values are
//   always bound. The one assembled statement, ListJobs', is assembled from constant
//   fragments.
// * Indexes, and which query each serves:
//     steps PRIMARY KEY (run_id, step)   GetTrajectory; duplicate-step detection
//     steps_by_seq (run_id, seq)         ReadUpdate's steps in (after, cursor]
//     evals PRIMARY KEY, evals_by_seq    the same for evaluations
//     runs UNIQUE (job_id, idx)          a job's runs: GetJob, ReadUpdate, ListJobs' init filter
//     jobs_by_owner (owner, id)          ListJobs by owner, newest first, from the page token
//     jobs_by_state (state, id)          ListJobs by state; UnfinishedJobs
//     jobs INTEGER PRIMARY KEY           ListJobs unfiltered: walked down from the page token
//     artifacts UNIQUE (job_id, name)    GetArtifact; ListArtifacts without reading blobs
//   A ReadUpdate is therefore a few range scans whose cost follows what it returns, not how
//   long the job has run. (Checked with EXPLAIN QUERY PLAN on this schema.)
#include "server/store/sqlite_store.h"

#include <openssl/evp.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/json_util.h"
#include "server/store/job_notes.h"
#include "server/store/migrations.h"
#include "server/store/numbers.h"

namespace ablate::store {

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  return Open(path, OpenOptions{});
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   const OpenOptions& options) {
  STORE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(path, options));
  return std::unique_ptr<Store>(std::move(store));
}

int Store::SchemaVersion() { return Migrations().back().version; }

namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

// --- States -----------------------------------------------------------------------------------
// The database spells states as lowercase words (see schema.sql); these tables are the one
// place that maps them to the proto enums.

struct JobStateName {
  v1::JobState state;
  const char* name;
};
constexpr JobStateName kJobStates[] = {
    {v1::JOB_STATE_QUEUED, "queued"},       {v1::JOB_STATE_RUNNING, "running"},
    {v1::JOB_STATE_SUCCEEDED, "succeeded"}, {v1::JOB_STATE_FAILED, "failed"},
    {v1::JOB_STATE_CANCELLED, "cancelled"},
};

struct RunStateName {
  v1::RunState state;
  const char* name;
};
constexpr RunStateName kRunStates[] = {
    {v1::RUN_STATE_QUEUED, "queued"},       {v1::RUN_STATE_RUNNING, "running"},
    {v1::RUN_STATE_COMPLETED, "completed"}, {v1::RUN_STATE_DIVERGED, "diverged"},
    {v1::RUN_STATE_CANCELLED, "cancelled"}, {v1::RUN_STATE_FAILED, "failed"},
};

const char* NameOf(v1::JobState state) {
  for (const auto& [s, name] : kJobStates) {
    if (s == state) return name;
  }
  return nullptr;
}

const char* NameOf(v1::RunState state) {
  for (const auto& [s, name] : kRunStates) {
    if (s == state) return name;
  }
  return nullptr;
}

absl::StatusOr<v1::JobState> JobStateFromName(absl::string_view text) {
  for (const auto& [state, name] : kJobStates) {
    if (text == name) return state;
  }
  return absl::DataLossError(absl::StrCat("unknown job state \"", text, "\" in the database"));
}

absl::StatusOr<v1::RunState> RunStateFromName(absl::string_view text) {
  for (const auto& [state, name] : kRunStates) {
    if (text == name) return state;
  }
  return absl::DataLossError(absl::StrCat("unknown run state \"", text, "\" in the database"));
}

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

bool IsTerminal(v1::RunState state) {
  return state == v1::RUN_STATE_COMPLETED || state == v1::RUN_STATE_DIVERGED ||
         state == v1::RUN_STATE_CANCELLED || state == v1::RUN_STATE_FAILED;
}

// --- Times: INTEGER milliseconds since the Unix epoch ------------------------------------------

int64_t ToMillis(absl::Time t) { return absl::ToUnixMillis(t); }

google::protobuf::Timestamp MillisToProto(int64_t ms) {
  google::protobuf::Timestamp ts;
  int64_t seconds = ms / 1000;
  int64_t rest = ms % 1000;
  if (rest < 0) {  // floor division: nanos must be in [0, 1e9)
    seconds -= 1;
    rest += 1000;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest * 1000000));
  return ts;
}

// Whole milliseconds, truncated like ToMillis.
int64_t ProtoToMillisFloor(const google::protobuf::Timestamp& ts) {
  return absl::ToUnixMillis(absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos()));
}

// The smallest whole millisecond at or after `ts`: stored times are whole milliseconds, so
// "created_at >= ts" and "created_at < ts" both hold exactly when they hold against this.
absl::StatusOr<int64_t> ProtoToMillisCeil(const google::protobuf::Timestamp& ts,
                                          absl::string_view field) {
  if (ts.nanos() < 0 || ts.nanos() >= 1000000000) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".nanos must be in 0–999999999, got ", ts.nanos()));
  }
  // Far beyond any real date, and keeps the product below in range.
  constexpr int64_t kLimit = int64_t{1} << 50;
  int64_t seconds = std::clamp<int64_t>(ts.seconds(), -kLimit, kLimit);
  return seconds * 1000 + (ts.nanos() + 999999) / 1000000;
}

// --- Floats that may be non-finite: a finite value, or NULL and its class (numbers.h) ---------

void BindFloat(Statement& stmt, int value_index, int class_index, float value) {
  if (const char* cls = NonFiniteClass(value); cls != nullptr) {
    stmt.BindNull(value_index).BindText(class_index, cls);
  } else {
    stmt.Bind(value_index, static_cast<double>(value)).BindNull(class_index);
  }
}

// The float a (value, class) column pair holds. Both NULL only where the pair is optional;
// callers check IsNull on both first. (The CHECKs keep the class to the three names.)
float ColumnFloat(const Statement& stmt, int value_column, int class_column) {
  if (stmt.IsNull(class_column)) return static_cast<float>(stmt.Double(value_column));
  return static_cast<float>(
      NonFiniteValue(stmt.Text(class_column)).value_or(std::numeric_limits<double>::quiet_NaN()));
}

bool PairIsNull(const Statement& stmt, int value_column, int class_column) {
  return stmt.IsNull(value_column) && stmt.IsNull(class_column);
}

absl::Status NotFinite(float value, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, " must be finite, got ", value));
}

// --- The job's spec: binary protobuf, with a JSON view ----------------------------------------

// jobs.spec_proto (binary protobuf) is the spec; GetJob reads nothing else, so every number
// comes back with its bits. jobs.spec is a view for people and SQL, protobuf's JSON mapping
// with proto field names (json_extract(spec, '$.training.steps')); nothing reads it back.
absl::StatusOr<std::string> SpecJsonView(const v1::JobSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(spec, &json, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot convert the job's spec to JSON: ", status.ToString()));
  }
  return json;
}

absl::Status SpecFromProto(const std::string& bytes, int64_t job_id, v1::JobSpec* spec) {
  if (bytes.empty() || !spec->ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrCat("the spec of job ", job_id, " in the database is not a valid JobSpec"));
  }
  return absl::OkStatus();
}

// --- SHA-256 ----------------------------------------------------------------------------------

absl::StatusOr<std::string> Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("OpenSSL could not compute a SHA-256 digest");
  }
  std::string hex;
  hex.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
  return hex;
}

// --- Reading jobs and runs --------------------------------------------------------------------

absl::Status NotFoundJob(int64_t job_id) {
  return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
}

absl::Status NotFoundRun(int64_t run_id) {
  return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
}

// The runs columns a v1::Run is made of, in the order of RunColumn.
constexpr char kRunColumns[] =
    "id, job_id, idx, init, weight_seed, uniform_low, uniform_high, state, outcome, steps_done, "
    "seconds, steps_per_second, first_nonfinite_step, flatline_step, final_loss, "
    "final_loss_class, final_eval_step, final_eval_loss, final_eval_loss_class, "
    "final_eval_accuracy, init_stats, final_stats, started_at, finished_at, fingerprint, "
    "restart_reason";
enum RunColumn {
  kRunId,
  kRunJobId,
  kRunIdx,
  kRunInit,
  kRunWeightSeed,
  kRunUniformLow,
  kRunUniformHigh,
  kRunState,
  kRunOutcome,
  kRunStepsDone,
  kRunSeconds,
  kRunStepsPerSecond,
  kRunFirstNonfiniteStep,
  kRunFlatlineStep,
  kRunFinalLoss,
  kRunFinalLossClass,
  kRunFinalEvalStep,
  kRunFinalEvalLoss,
  kRunFinalEvalLossClass,
  kRunFinalEvalAccuracy,
  kRunInitStats,
  kRunFinalStats,
  kRunStartedAt,
  kRunFinishedAt,
  kRunFingerprint,
  kRunRestartReason,
};

absl::StatusOr<v1::Run> RunFromRow(const Statement& row) {
  v1::Run run;
  run.set_id(row.Int(kRunId));
  run.set_job_id(row.Int(kRunJobId));
  run.set_index(static_cast<int32_t>(row.Int(kRunIdx)));
  v1::RunSpec* spec = run.mutable_spec();
  spec->set_init(row.Text(kRunInit));
  if (!row.IsNull(kRunWeightSeed)) {
    spec->set_weight_seed(static_cast<uint64_t>(row.Int(kRunWeightSeed)));
  }
  if (!row.IsNull(kRunUniformLow)) spec->set_uniform_low(row.Double(kRunUniformLow));
  if (!row.IsNull(kRunUniformHigh)) spec->set_uniform_high(row.Double(kRunUniformHigh));
  STORE_ASSIGN_OR_RETURN(v1::RunState state, RunStateFromName(row.Text(kRunState)));
  run.set_state(state);
  run.set_outcome(row.Text(kRunOutcome));
  run.set_steps_done(static_cast<int32_t>(row.Int(kRunStepsDone)));
  run.set_seconds(row.Double(kRunSeconds));
  if (!row.IsNull(kRunStepsPerSecond)) {
    run.set_steps_per_second(row.Double(kRunStepsPerSecond));
  } else if (run.seconds() > 0) {
    run.set_steps_per_second(run.steps_done() / run.seconds());
  }
  if (!row.IsNull(kRunFirstNonfiniteStep)) {
    run.set_first_nonfinite_step(static_cast<int32_t>(row.Int(kRunFirstNonfiniteStep)));
  }
  if (!row.IsNull(kRunFlatlineStep)) {
    run.set_flatline_step(static_cast<int32_t>(row.Int(kRunFlatlineStep)));
  }
  if (!PairIsNull(row, kRunFinalLoss, kRunFinalLossClass)) {
    run.set_final_loss(ColumnFloat(row, kRunFinalLoss, kRunFinalLossClass));
  }
  if (!row.IsNull(kRunFinalEvalStep)) {
    v1::EvalResult* eval = run.mutable_final_eval();
    eval->set_run_id(run.id());
    eval->set_step(static_cast<int32_t>(row.Int(kRunFinalEvalStep)));
    eval->set_loss(ColumnFloat(row, kRunFinalEvalLoss, kRunFinalEvalLossClass));
    eval->set_accuracy(static_cast<float>(row.Double(kRunFinalEvalAccuracy)));
  }
  std::string what = absl::StrCat("init_stats of run ", run.id());
  STORE_RETURN_IF_ERROR(StatsFromJson(row.Text(kRunInitStats), run.mutable_init_stats(), what));
  what = absl::StrCat("final_stats of run ", run.id());
  STORE_RETURN_IF_ERROR(StatsFromJson(row.Text(kRunFinalStats), run.mutable_final_stats(), what));
  if (!row.IsNull(kRunStartedAt)) *run.mutable_started_at() = MillisToProto(row.Int(kRunStartedAt));
  if (!row.IsNull(kRunFinishedAt)) {
    *run.mutable_finished_at() = MillisToProto(row.Int(kRunFinishedAt));
  }
  if (!row.IsNull(kRunFingerprint)) run.set_fingerprint(row.Text(kRunFingerprint));
  run.set_restart_reason(row.Text(kRunRestartReason));
  return run;
}

absl::StatusOr<v1::Run> LoadRun(Connection& conn, int64_t run_id) {
  static const std::string kSql = absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE id = ?1");
  STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(kSql));
  stmt.Bind(1, run_id);
  STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFoundRun(run_id);
  return RunFromRow(stmt);
}

absl::StatusOr<v1::Job> LoadJob(Connection& conn, int64_t job_id) {
  v1::Job job;
  {
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("SELECT id, name, owner, state, spec_proto, error, created_at, "
                     "started_at, finished_at FROM jobs WHERE id = ?1"));
    stmt.Bind(1, job_id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundJob(job_id);
    job.set_id(stmt.Int(0));
    job.set_name(stmt.Text(1));
    job.set_owner(stmt.Text(2));
    STORE_ASSIGN_OR_RETURN(v1::JobState state, JobStateFromName(stmt.Text(3)));
    job.set_state(state);
    STORE_RETURN_IF_ERROR(SpecFromProto(stmt.Blob(4), job_id, job.mutable_spec()));
    job.set_error(stmt.Text(5));
    *job.mutable_created_at() = MillisToProto(stmt.Int(6));
    if (!stmt.IsNull(7)) *job.mutable_started_at() = MillisToProto(stmt.Int(7));
    if (!stmt.IsNull(8)) *job.mutable_finished_at() = MillisToProto(stmt.Int(8));
  }
  STORE_RETURN_IF_ERROR(LoadJobNotes(conn, job));
  static const std::string kRunsSql =
      absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE job_id = ?1 ORDER BY idx");
  STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(kRunsSql));
  stmt.Bind(1, job_id);
  while (true) {
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    STORE_ASSIGN_OR_RETURN(*job.add_runs(), RunFromRow(stmt));
  }
  return job;
}

absl::Status CheckJobExists(Connection& conn, int64_t job_id) {
  STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT 1 FROM jobs WHERE id = ?1"));
  stmt.Bind(1, job_id);
  STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? absl::OkStatus() : NotFoundJob(job_id);
}

// --- Append -----------------------------------------------------------------------------------

// One Append call's transaction: applies events in order, checking each against the state the
// earlier ones left, and keeps what it learns about jobs and runs so that a batch of steps costs
// one INSERT each and nothing more.
class AppendBatch {
 public:
  explicit AppendBatch(Connection& conn) : conn_(conn) {}

  absl::Status Apply(const Event& event) {
    return std::visit([this](const auto& e) { return On(e); }, event);
  }

  // Writes what the batch kept in memory: the runs' step aggregates and the jobs' last_seq.
  absl::StatusOr<std::vector<JobCursor>> Finish() {
    for (auto& [run_id, run] : runs_) STORE_RETURN_IF_ERROR(FlushSteps(run_id, run));
    std::vector<JobCursor> cursors;
    for (int64_t job_id : touched_jobs_) {
      const JobInfo& job = jobs_.at(job_id);
      STORE_ASSIGN_OR_RETURN(Statement stmt,
                             conn_.Prepare("UPDATE jobs SET last_seq = ?2 WHERE id = ?1"));
      STORE_RETURN_IF_ERROR(stmt.Bind(1, job_id).Bind(2, job.last_seq).Run());
      cursors.push_back(JobCursor{job_id, static_cast<uint64_t>(job.last_seq)});
    }
    return cursors;
  }

 private:
  struct JobInfo {
    int64_t last_seq = 0;
    bool finished = false;
  };
  struct RunInfo {
    int64_t job_id = 0;
    v1::RunState state = v1::RUN_STATE_UNSPECIFIED;
    // Steps of this batch not yet folded into the runs row (see schema.sql, runs).
    bool pending = false;
    int32_t max_step = -1;
    float max_step_loss = 0;
    double seconds = 0;
    std::optional<int32_t> first_nonfinite_step;
  };

  absl::StatusOr<JobInfo*> Job(int64_t job_id) {
    if (auto it = jobs_.find(job_id); it != jobs_.end()) return &it->second;
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn_.Prepare("SELECT last_seq, state FROM jobs WHERE id = ?1"));
    stmt.Bind(1, job_id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundJob(job_id);
    STORE_ASSIGN_OR_RETURN(v1::JobState state, JobStateFromName(stmt.Text(1)));
    return &jobs_.emplace(job_id, JobInfo{stmt.Int(0), IsTerminal(state)}).first->second;
  }

  absl::StatusOr<RunInfo*> Run(int64_t run_id) {
    if (auto it = runs_.find(run_id); it != runs_.end()) return &it->second;
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn_.Prepare("SELECT job_id, state FROM runs WHERE id = ?1"));
    stmt.Bind(1, run_id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundRun(run_id);
    RunInfo info;
    info.job_id = stmt.Int(0);
    STORE_ASSIGN_OR_RETURN(info.state, RunStateFromName(stmt.Text(1)));
    return &runs_.emplace(run_id, info).first->second;
  }

  // The job's next sequence number. A finished job takes no more events: JobFinished is the
  // last thing a watcher sees, so anything after it would never be streamed.
  absl::StatusOr<int64_t> NextSeq(int64_t job_id) {
    STORE_ASSIGN_OR_RETURN(JobInfo * job, Job(job_id));
    if (job->finished) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, " has finished; no event may follow its JobFinished"));
    }
    if (std::find(touched_jobs_.begin(), touched_jobs_.end(), job_id) == touched_jobs_.end()) {
      touched_jobs_.push_back(job_id);
    }
    return ++job->last_seq;
  }

  // Steps and evals need a run that has started and not ended. (The checks below build their
  // messages only on failure: they run once per step.)
  static absl::Status NotRunning(int64_t run_id, const RunInfo& run, absl::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " for run ", run_id, ", which is ", NameOf(run.state),
                     run.state == v1::RUN_STATE_QUEUED ? " (RunStarted must come first)" : ""));
  }

  absl::Status On(const RunStartedEvent& e) {
    STORE_ASSIGN_OR_RETURN(RunInfo * run, Run(e.run_id));
    if (IsTerminal(run->state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "RunStarted for run ", e.run_id, ", which has already ended (", NameOf(run->state), ")"));
    }
    STORE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(run->job_id));
    // A second start (the server restarted mid-run) keeps the first started_at but moves
    // started_seq, so a watcher resuming after the first start learns of the second.
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn_.Prepare("UPDATE runs SET state = 'running', outcome = 'running', "
                      "started_at = coalesce(started_at, ?2), started_seq = ?3, "
                      "fingerprint = coalesce(nullif(?4, ''), fingerprint) WHERE id = ?1"));
    STORE_RETURN_IF_ERROR(stmt.Bind(1, e.run_id)
                              .Bind(2, ToMillis(e.at))
                              .Bind(3, seq)
                              .BindText(4, e.fingerprint)
                              .Run());
    run->state = v1::RUN_STATE_RUNNING;
    return absl::OkStatus();
  }

  // Moves the run's steps and evals aside (whole-row copies, then deletes), in the same
  // transaction as the reset of its summary: a crash leaves either the old trajectory or none,
  // and the set-aside rows either way.
  absl::Status On(const RunRestartedEvent& e) {
    STORE_ASSIGN_OR_RETURN(RunInfo * run, Run(e.run_id));
    if (IsTerminal(run->state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "RunRestarted for run ", e.run_id, ", which has ended (", NameOf(run->state), ")"));
    }
    // Steps of this batch go aside with the others: fold them in first, then forget them.
    STORE_RETURN_IF_ERROR(FlushSteps(e.run_id, *run));
    STORE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(run->job_id));
    int64_t set_aside = -1;  // the steps' count: the first statement's
    for (const char* sql :
         {"INSERT INTO set_aside_steps (run_id, restart_seq, step, seq, loss, loss_class, "
          "weight_grad_norm, weight_grad_norm_class, seconds) SELECT run_id, ?2, step, seq, loss, "
          "loss_class, weight_grad_norm, weight_grad_norm_class, seconds FROM steps "
          "WHERE run_id = ?1",
          "INSERT INTO set_aside_evals (run_id, restart_seq, step, seq, loss, loss_class, "
          "accuracy) SELECT run_id, ?2, step, seq, loss, loss_class, accuracy FROM evals "
          "WHERE run_id = ?1"}) {
      STORE_ASSIGN_OR_RETURN(Statement stmt, conn_.Prepare(sql));
      STORE_RETURN_IF_ERROR(stmt.Bind(1, e.run_id).Bind(2, seq).Run());
      if (set_aside < 0) set_aside = sqlite3_changes64(conn_.db());
    }
    for (const char* sql :
         {"DELETE FROM steps WHERE run_id = ?1", "DELETE FROM evals WHERE run_id = ?1"}) {
      STORE_ASSIGN_OR_RETURN(Statement stmt, conn_.Prepare(sql));
      STORE_RETURN_IF_ERROR(stmt.Bind(1, e.run_id).Run());
    }
    {
      STORE_ASSIGN_OR_RETURN(
          Statement stmt,
          conn_.Prepare("INSERT INTO run_restarts (run_id, seq, at, reason, steps_set_aside) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)"));
      STORE_RETURN_IF_ERROR(stmt.Bind(1, e.run_id)
                                .Bind(2, seq)
                                .Bind(3, ToMillis(e.at))
                                .BindText(4, e.reason)
                                .Bind(5, set_aside)
                                .Run());
    }
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn_.Prepare("UPDATE runs SET steps_done = 0, seconds = 0, steps_per_second = NULL, "
                      "first_nonfinite_step = NULL, flatline_step = NULL, final_loss = NULL, "
                      "final_loss_class = NULL, restarted_seq = ?2, restart_reason = ?3 "
                      "WHERE id = ?1"));
    return stmt.Bind(1, e.run_id).Bind(2, seq).BindText(3, e.reason).Run();
  }

  absl::Status On(const StepEvent& e) {
    STORE_ASSIGN_OR_RETURN(RunInfo * run, Run(e.run_id));
    if (run->state != v1::RUN_STATE_RUNNING) {
      return NotRunning(e.run_id, *run, absl::StrCat("step ", e.step));
    }
    if (e.step < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("run ", e.run_id, ": step must be >= 0, got ", e.step));
    }
    if (!std::isfinite(e.seconds)) {
      return NotFinite(e.seconds, absl::StrCat("run ", e.run_id, " step ", e.step, ": seconds"));
    }
    STORE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(run->job_id));
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn_.Prepare("INSERT INTO steps (run_id, step, seq, loss, loss_class, weight_grad_norm, "
                      "weight_grad_norm_class, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
    stmt.Bind(1, e.run_id).Bind(2, int64_t{e.step}).Bind(3, seq);
    BindFloat(stmt, 4, 5, e.loss);
    BindFloat(stmt, 6, 7, e.weight_grad_norm);
    stmt.Bind(8, static_cast<double>(e.seconds));
    // A plain INSERT: a second row for a step is the caller's bug (it never resends), and
    // "ignore" would hide it, or hide a different loss for the same step.
    if (absl::Status s = stmt.Run(); !s.ok()) {
      if (absl::IsAlreadyExists(s)) {
        return absl::AlreadyExistsError(
            absl::StrCat("run ", e.run_id, " already has step ", e.step));
      }
      return s;
    }
    run->pending = true;
    if (e.step > run->max_step) {
      run->max_step = e.step;
      run->max_step_loss = e.loss;
    }
    run->seconds += e.seconds;
    if (!std::isfinite(e.loss) &&
        (!run->first_nonfinite_step || e.step < *run->first_nonfinite_step)) {
      run->first_nonfinite_step = e.step;
    }
    return absl::OkStatus();
  }

  absl::Status On(const EvalEvent& e) {
    STORE_ASSIGN_OR_RETURN(RunInfo * run, Run(e.run_id));
    if (run->state != v1::RUN_STATE_RUNNING) {
      return NotRunning(e.run_id, *run, absl::StrCat("eval at step ", e.step));
    }
    if (e.step < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("run ", e.run_id, ": eval step must be >= 0, got ", e.step));
    }
    if (!std::isfinite(e.accuracy)) {
      return NotFinite(e.accuracy,
                       absl::StrCat("run ", e.run_id, " eval at step ", e.step, ": accuracy"));
    }
    STORE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(run->job_id));
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn_.Prepare("INSERT INTO evals (run_id, step, seq, loss, loss_class, accuracy) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    stmt.Bind(1, e.run_id).Bind(2, int64_t{e.step}).Bind(3, seq);
    BindFloat(stmt, 4, 5, e.loss);
    stmt.Bind(6, static_cast<double>(e.accuracy));
    if (absl::Status s = stmt.Run(); !s.ok()) {
      if (absl::IsAlreadyExists(s)) {
        return absl::AlreadyExistsError(
            absl::StrCat("run ", e.run_id, " already has an eval at step ", e.step));
      }
      return s;
    }
    return absl::OkStatus();
  }

  absl::Status On(const RunFinishedEvent& e) {
    const v1::Run& s = e.summary;
    STORE_ASSIGN_OR_RETURN(RunInfo * run, Run(s.id()));
    if (s.job_id() != 0 && s.job_id() != run->job_id) {
      return absl::InvalidArgumentError(absl::StrCat("RunFinished for run ", s.id(), " names job ",
                                                     s.job_id(), ", but the run is job ",
                                                     run->job_id, "'s"));
    }
    if (!IsTerminal(s.state())) {
      return absl::InvalidArgumentError(
          absl::StrCat("RunFinished for run ", s.id(), " has state ", v1::RunState_Name(s.state()),
                       "; it must be COMPLETED, DIVERGED, CANCELLED or FAILED"));
    }
    if (IsTerminal(run->state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "RunFinished for run ", s.id(), ", which has already ended (", NameOf(run->state), ")"));
    }
    // Fold this batch's steps in first: the UPDATE below reads them.
    STORE_RETURN_IF_ERROR(FlushSteps(s.id(), *run));
    STORE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(run->job_id));
    const std::string init_stats = StatsToJson(s.init_stats());
    const std::string final_stats = StatsToJson(s.final_stats());
    // The summary is the run's final account, except for what the recorded steps already say:
    // steps_done, first_nonfinite_step and final_loss describe the rows in steps, so a run
    // with rows keeps the values Append derived from them (a summary built without them, such
    // as a failure's, cannot contradict its own trajectory). A seconds or steps_per_second of 0
    // means "not measured": the running values stay, and the rate is derived when read.
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn_.Prepare(
            "UPDATE runs SET state = ?2, outcome = ?3, "
            "steps_done = CASE WHEN steps_done > 0 THEN steps_done ELSE ?4 END, "
            "first_nonfinite_step = coalesce(first_nonfinite_step, ?5), flatline_step = ?6, "
            "final_loss = CASE WHEN steps_done > 0 THEN final_loss ELSE ?7 END, "
            "final_loss_class = CASE WHEN steps_done > 0 THEN final_loss_class ELSE ?8 END, "
            "final_eval_step = ?9, final_eval_loss = ?10, final_eval_loss_class = ?11, "
            "final_eval_accuracy = ?12, init_stats = ?13, final_stats = ?14, "
            "seconds = CASE WHEN ?15 > 0 THEN ?15 ELSE seconds END, "
            "steps_per_second = CASE WHEN ?16 > 0 THEN ?16 END, "
            "finished_at = ?17, finished_seq = ?18 WHERE id = ?1"));
    stmt.Bind(1, s.id()).BindText(2, NameOf(s.state())).BindText(3, s.outcome());
    stmt.Bind(4, int64_t{s.steps_done()});
    if (s.has_first_nonfinite_step()) stmt.Bind(5, int64_t{s.first_nonfinite_step()});
    if (s.has_flatline_step()) stmt.Bind(6, int64_t{s.flatline_step()});
    if (s.has_final_loss()) BindFloat(stmt, 7, 8, s.final_loss());
    if (s.has_final_eval()) {
      if (!std::isfinite(s.final_eval().accuracy())) {
        return NotFinite(s.final_eval().accuracy(),
                         absl::StrCat("run ", s.id(), ": final_eval.accuracy"));
      }
      stmt.Bind(9, int64_t{s.final_eval().step()});
      BindFloat(stmt, 10, 11, s.final_eval().loss());
      stmt.Bind(12, static_cast<double>(s.final_eval().accuracy()));
    }
    stmt.BindText(13, init_stats).BindText(14, final_stats);
    stmt.Bind(15, s.seconds()).Bind(16, s.steps_per_second());
    if (s.has_finished_at()) stmt.Bind(17, ProtoToMillisFloor(s.finished_at()));
    stmt.Bind(18, seq);
    STORE_RETURN_IF_ERROR(stmt.Run());
    run->state = s.state();
    return absl::OkStatus();
  }

  absl::Status On(const JobStartedEvent& e) {
    STORE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(e.job_id));
    (void)seq;  // JobUpdate has no part for it; the number only keeps the job's events counted
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn_.Prepare("UPDATE jobs SET state = 'running', started_at = coalesce(started_at, ?2) "
                      "WHERE id = ?1"));
    return stmt.Bind(1, e.job_id).Bind(2, ToMillis(e.at)).Run();
  }

  absl::Status On(const JobFinishedEvent& e) {
    if (!IsTerminal(e.state)) {
      return absl::InvalidArgumentError(
          absl::StrCat("JobFinished for job ", e.job_id, " has state ", v1::JobState_Name(e.state),
                       "; it must be SUCCEEDED, FAILED or CANCELLED"));
    }
    STORE_ASSIGN_OR_RETURN(JobInfo * job, Job(e.job_id));
    if (job->finished) return NextSeq(e.job_id).status();  // names the job
    // A job never ends while one of its runs has not (its end was lost): such a run ends here,
    // with its own event before the job's, failed (cancelled, in a cancelled job), and a job
    // reported as succeeded fails.
    v1::JobState state = e.state;
    std::string error = e.error;
    STORE_ASSIGN_OR_RETURN(
        Statement unended,
        conn_.Prepare("SELECT id, idx FROM runs WHERE job_id = ?1 AND "
                      "(state = 'queued' OR state = 'running') ORDER BY idx"));
    unended.Bind(1, e.job_id);
    std::vector<std::pair<int64_t, int64_t>> runs;  // (id, idx)
    for (;;) {
      STORE_ASSIGN_OR_RETURN(bool row, unended.Step());
      if (!row) break;
      runs.emplace_back(unended.Int(0), unended.Int(1));
    }
    for (const auto& [run_id, idx] : runs) {
      const bool cancelled = e.state == v1::JOB_STATE_CANCELLED;
      const std::string outcome = cancelled ? "cancelled with its job"
                                            : "its end was never recorded before its job ended";
      RunFinishedEvent end;
      end.summary.set_id(run_id);
      end.summary.set_state(cancelled ? v1::RUN_STATE_CANCELLED : v1::RUN_STATE_FAILED);
      end.summary.set_outcome(outcome);
      *end.summary.mutable_finished_at() = MillisToProto(ToMillis(e.at));
      STORE_RETURN_IF_ERROR(On(end));
      if (state == v1::JOB_STATE_SUCCEEDED) {
        state = v1::JOB_STATE_FAILED;
        error = absl::StrCat("run ", idx, ": ", outcome);
      }
    }
    STORE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(e.job_id));
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn_.Prepare("UPDATE jobs SET state = ?2, error = ?3, "
                                         "finished_at = ?4, finished_seq = ?5 WHERE id = ?1"));
    stmt.Bind(1, e.job_id).BindText(2, NameOf(state)).BindText(3, error);
    STORE_RETURN_IF_ERROR(stmt.Bind(4, ToMillis(e.at)).Bind(5, seq).Run());
    jobs_.at(e.job_id).finished = true;
    return absl::OkStatus();
  }

  // Folds the run's pending steps into its row: one UPDATE per run per batch, however many
  // steps the batch holds. (In an UPDATE every right-hand side sees the row's old values.)
  absl::Status FlushSteps(int64_t run_id, RunInfo& run) {
    if (!run.pending) return absl::OkStatus();
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn_.Prepare(
            "UPDATE runs SET steps_done = max(steps_done, ?2), seconds = seconds + ?3, "
            "final_loss = CASE WHEN ?2 > steps_done THEN ?4 ELSE final_loss END, "
            "final_loss_class = CASE WHEN ?2 > steps_done THEN ?5 ELSE final_loss_class END, "
            "first_nonfinite_step = CASE WHEN ?6 IS NOT NULL AND (first_nonfinite_step IS NULL "
            "OR ?6 < first_nonfinite_step) THEN ?6 ELSE first_nonfinite_step END "
            "WHERE id = ?1"));
    stmt.Bind(1, run_id).Bind(2, int64_t{run.max_step} + 1).Bind(3, run.seconds);
    BindFloat(stmt, 4, 5, run.max_step_loss);
    if (run.first_nonfinite_step) stmt.Bind(6, int64_t{*run.first_nonfinite_step});
    STORE_RETURN_IF_ERROR(stmt.Run());
    run.pending = false;
    run.max_step = -1;
    run.seconds = 0;
    run.first_nonfinite_step.reset();
    return absl::OkStatus();
  }

  Connection& conn_;
  std::unordered_map<int64_t, JobInfo> jobs_;
  std::unordered_map<int64_t, RunInfo> runs_;
  std::vector<int64_t> touched_jobs_;  // in order of their first event
};

// --- ReadUpdate helpers -----------------------------------------------------------------------

struct StepRow {
  int32_t step;
  float loss;
  float seconds;
};

// Appends `rows` (one run's, ascending by step) to `update` as runs of consecutive steps.
void AddStepLosses(int64_t run_id, const std::vector<StepRow>& rows, v1::JobUpdate* update) {
  v1::StepLosses* group = nullptr;
  int32_t next_step = 0;
  for (const StepRow& row : rows) {
    if (group == nullptr || row.step != next_step) {
      group = update->add_steps();
      group->set_run_id(run_id);
      group->set_first_step(row.step);
    }
    group->add_losses(row.loss);
    group->add_seconds(row.seconds);
    next_step = row.step + 1;
  }
}

// Status of either a Status or a StatusOr, for code generic over both.
const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

// Runs `fn(conn)` inside a transaction of `mode`; commits only when it succeeded.
template <typename Fn>
auto InTransaction(Connection& conn, Transaction::Mode mode, Fn& fn)
    -> decltype(fn(std::declval<Connection&>())) {
  Transaction txn(conn);
  STORE_RETURN_IF_ERROR(txn.Begin(mode));
  auto result = fn(conn);
  if (!StatusOf(result).ok()) return result;  // ~Transaction rolls back
  STORE_RETURN_IF_ERROR(txn.Commit());
  return result;
}

}  // namespace

// --- SqliteStore ------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const OpenOptions& options) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "the store's path is empty: give a database file or \":memory:\"");
  }
  const bool in_memory = path == ":memory:";
  if (options.read_only) {
    if (in_memory) {
      return absl::InvalidArgumentError("an in-memory store cannot be opened read-only");
    }
    std::error_code error;
    if (!std::filesystem::exists(path, error)) {
      return absl::NotFoundError(
          absl::StrCat("cannot open ", path, " read-only: the file does not exist"));
    }
    std::vector<std::unique_ptr<Connection>> connections;
    for (int i = 0; i <= kReadConnections; ++i) {
      STORE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                             Connection::Open(path, kBusyTimeoutMs, /*read_only=*/true));
      STORE_RETURN_IF_ERROR(conn->Exec("PRAGMA foreign_keys = ON; PRAGMA query_only = ON"));
      connections.push_back(std::move(conn));
    }
    std::unique_ptr<Connection> first = std::move(connections.back());
    connections.pop_back();
    auto version = first->QueryInt("PRAGMA user_version");
    if (!version.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is not an Ablate database: ", version.status().message()));
    }
    if (*version != SchemaVersion()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " has schema version ", *version, " and this server needs ", SchemaVersion(),
          "; a read-only database cannot be migrated (open it once writable)"));
    }
    return std::unique_ptr<SqliteStore>(
        new SqliteStore(std::move(first), std::move(connections), path, /*read_only=*/true));
  }
  STORE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer,
                         Connection::Open(path, kBusyTimeoutMs));
  // The first read of the file is where SQLite notices that it is not a database at all.
  if (auto id = writer->QueryInt("PRAGMA application_id"); !id.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not an Ablate database: ", id.status().message()));
  }
  if (!in_memory) {
    // WAL: readers see the last committed state while the writer works, and a commit is one
    // append to the log. NORMAL sync is safe with WAL (a power cut can lose the last commits,
    // never corrupt the file) and saves an fsync per transaction.
    STORE_ASSIGN_OR_RETURN(Statement stmt, writer->Prepare("PRAGMA journal_mode = WAL"));
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    std::string mode = row ? absl::AsciiStrToLower(stmt.Text(0)) : "";
    if (mode != "wal") {
      return absl::FailedPreconditionError(absl::StrCat("cannot put ", path,
                                                        " in WAL mode (journal mode is \"", mode,
                                                        "\"); is it on a network file system?"));
    }
  }
  STORE_RETURN_IF_ERROR(writer->Exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON"));
  STORE_RETURN_IF_ERROR(Migrate(*writer, Migrations()));
  if (options.max_bytes > 0) {
    // max_page_count belongs to the connection, and only the writer grows the file.
    STORE_ASSIGN_OR_RETURN(int64_t page_size, writer->QueryInt("PRAGMA page_size"));
    const int64_t pages = std::max<int64_t>(1, options.max_bytes / page_size);
    const std::string pragma = absl::StrCat("PRAGMA max_page_count = ", pages);
    STORE_RETURN_IF_ERROR(writer->Exec(pragma.c_str()));
  }

  std::vector<std::unique_ptr<Connection>> readers;
  if (!in_memory) {
    for (int i = 0; i < kReadConnections; ++i) {
      STORE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader,
                             Connection::Open(path, kBusyTimeoutMs));
      // query_only: a read connection that tried to write would be a bug in this file.
      STORE_RETURN_IF_ERROR(reader->Exec("PRAGMA foreign_keys = ON; PRAGMA query_only = ON"));
      readers.push_back(std::move(reader));
    }
  }
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(std::move(writer), std::move(readers), path, /*read_only=*/false));
}

SqliteStore::SqliteStore(std::unique_ptr<Connection> writer,
                         std::vector<std::unique_ptr<Connection>> readers, std::string path,
                         bool read_only)
    : shared_connection_(readers.empty()),
      path_(std::move(path)),
      read_only_(read_only),
      writer_(std::move(writer)),
      idle_readers_(std::move(readers)) {}

template <typename Fn>
auto SqliteStore::Read(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  if (shared_connection_) {
    std::lock_guard lock(write_mu_);
    return InTransaction(*writer_, Transaction::Mode::kRead, fn);
  }
  // Takes a reader out of the pool and puts it back however fn ends.
  struct Lease {
    SqliteStore* store;
    std::unique_ptr<Connection> conn;
    ~Lease() {
      if (conn == nullptr) return;
      {
        std::lock_guard lock(store->readers_mu_);
        store->idle_readers_.push_back(std::move(conn));
      }
      store->reader_returned_.notify_one();
    }
  };
  Lease lease{this, nullptr};
  {
    std::unique_lock lock(readers_mu_);
    reader_returned_.wait(lock, [this] { return !idle_readers_.empty(); });
    lease.conn = std::move(idle_readers_.back());
    idle_readers_.pop_back();
  }
  return InTransaction(*lease.conn, Transaction::Mode::kRead, fn);
}

template <typename Fn>
auto SqliteStore::Write(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  if (read_only_) {
    return absl::FailedPreconditionError(
        absl::StrCat("the database ", path_, " is open read-only; nothing can be changed"));
  }
  std::lock_guard lock(write_mu_);
  return InTransaction(*writer_, Transaction::Mode::kWrite, fn);
}

absl::StatusOr<v1::Job> SqliteStore::CreateJob(const v1::JobSpec& spec, const std::string& owner,
                                               absl::Time now, std::optional<int64_t> class_id) {
  STORE_ASSIGN_OR_RETURN(std::string spec_json, SpecJsonView(spec));
  std::string spec_proto;
  if (!spec.SerializeToString(&spec_proto)) {
    return absl::InvalidArgumentError("cannot serialise the job's spec");
  }
  return Write([&](Connection& conn) -> absl::StatusOr<v1::Job> {
    STORE_ASSIGN_OR_RETURN(
        Statement insert_job,
        conn.Prepare("INSERT INTO jobs (name, owner, state, spec, spec_proto, created_at, "
                     "class_id) VALUES (?1, ?2, 'queued', ?3, ?6, ?4, ?5)"));
    insert_job.BindText(1, spec.name()).BindText(2, owner).BindText(3, spec_json);
    insert_job.BindBlob(6, spec_proto);
    if (class_id) insert_job.Bind(5, *class_id);
    STORE_RETURN_IF_ERROR(insert_job.Bind(4, ToMillis(now)).Run());
    const int64_t job_id = sqlite3_last_insert_rowid(conn.db());
    for (int i = 0; i < spec.runs_size(); ++i) {
      const v1::RunSpec& run = spec.runs(i);
      STORE_ASSIGN_OR_RETURN(
          Statement insert_run,
          conn.Prepare("INSERT INTO runs (job_id, idx, init, weight_seed, uniform_low, "
                       "uniform_high, state, outcome) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 'queued')"));
      insert_run.Bind(1, job_id).Bind(2, int64_t{i}).BindText(3, run.init());
      if (run.has_weight_seed()) insert_run.Bind(4, static_cast<int64_t>(run.weight_seed()));
      if (run.has_uniform_low()) insert_run.Bind(5, run.uniform_low());
      if (run.has_uniform_high()) insert_run.Bind(6, run.uniform_high());
      STORE_RETURN_IF_ERROR(insert_run.Run());
    }
    // Read back rather than assembled here, so the caller gets exactly what GetJob will return
    // (created_at in whole milliseconds, for one).
    return LoadJob(conn, job_id);
  });
}

absl::StatusOr<v1::Job> SqliteStore::GetJob(int64_t job_id) {
  return Read([&](Connection& conn) { return LoadJob(conn, job_id); });
}

absl::StatusOr<v1::Run> SqliteStore::GetRun(int64_t run_id) {
  return Read([&](Connection& conn) { return LoadRun(conn, run_id); });
}

absl::StatusOr<JobPage> SqliteStore::ListJobs(const v1::ListJobsRequest& request,
                                              std::optional<int64_t> class_id) {
  // Validate everything before touching the database, so errors are about the request.
  const int page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  if (page_size < 1 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be between 1 and ", kMaxPageSize,
                                                   " (0 means ", kDefaultPageSize, "), got ",
                                                   request.page_size()));
  }
  // The token is "j" and the id of the previous page's last job: the next page is the jobs
  // below it. Opaque to clients; it stays valid however many jobs are added meanwhile.
  std::optional<int64_t> before_id;
  if (!request.page_token().empty()) {
    absl::string_view digits = request.page_token();
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
  for (int i = 0; i < request.states_size(); ++i) {
    const char* name = NameOf(static_cast<v1::JobState>(request.states(i)));
    if (name == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("states[", i, "]: ", request.states(i),
                                                     " is not a job state (1–5: QUEUED, RUNNING, "
                                                     "SUCCEEDED, FAILED, CANCELLED)"));
    }
    absl::StrAppend(&states_json, states_json.empty() ? "[" : ",", "\"", name, "\"");
  }
  if (!states_json.empty()) states_json += "]";
  // A zero Timestamp (the Unix epoch) counts as no bound: "created before 1970" cannot be
  // meant, and clients that touch mutable_created_before() or fill defaults send exactly that.
  auto is_set = [](bool has, const google::protobuf::Timestamp& ts) {
    return has && (ts.seconds() != 0 || ts.nanos() != 0);
  };
  std::optional<int64_t> created_after, created_before;
  if (is_set(request.has_created_after(), request.created_after())) {
    STORE_ASSIGN_OR_RETURN(created_after,
                           ProtoToMillisCeil(request.created_after(), "created_after"));
  }
  if (is_set(request.has_created_before(), request.created_before())) {
    STORE_ASSIGN_OR_RETURN(created_before,
                           ProtoToMillisCeil(request.created_before(), "created_before"));
  }

  // The query is assembled from constant fragments, one per filter present, so that SQLite
  // plans each combination on its own (owner → jobs_by_owner, states → jobs_by_state, none →
  // the primary key walked downwards from the token); every value is a bound parameter. There
  // are at most 2^9 such texts, each prepared once per connection.
  std::string sql = "SELECT id FROM jobs WHERE 1";
  if (before_id) sql += " AND id < :before_id";
  if (class_id) sql += " AND class_id = :class_id";
  if (!request.owner().empty()) sql += " AND owner = :owner";
  if (!states_json.empty()) sql += " AND state IN (SELECT value FROM json_each(:states))";
  // A job's runs are found through runs(job_id, idx): a handful of rows per job.
  if (!request.init().empty()) {
    sql += " AND EXISTS (SELECT 1 FROM runs WHERE runs.job_id = jobs.id AND runs.init = :init)";
  }
  // instr, not LIKE: case-sensitive as the API says, and no wildcard characters to escape.
  if (!request.name_contains().empty()) sql += " AND instr(name, :name) > 0";
  if (!request.tag().empty()) {
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
      if (!request.owner().empty()) stmt.BindText(bind(":owner"), request.owner());
      if (!states_json.empty()) stmt.BindText(bind(":states"), states_json);
      if (!request.init().empty()) stmt.BindText(bind(":init"), request.init());
      if (!request.name_contains().empty()) {
        stmt.BindText(bind(":name"), request.name_contains());
      }
      if (!request.tag().empty()) stmt.BindText(bind(":tag"), request.tag());
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
      STORE_ASSIGN_OR_RETURN(v1::Job job, LoadJob(conn, id));
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

absl::StatusOr<std::vector<JobCursor>> SqliteStore::Append(std::span<const Event> events) {
  return Write([&](Connection& conn) -> absl::StatusOr<std::vector<JobCursor>> {
    AppendBatch batch(conn);
    for (const Event& event : events) STORE_RETURN_IF_ERROR(batch.Apply(event));
    return batch.Finish();
  });
}

absl::StatusOr<uint64_t> SqliteStore::Cursor(int64_t job_id) {
  return Read([&](Connection& conn) -> absl::StatusOr<uint64_t> {
    STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT last_seq FROM jobs WHERE id = ?1"));
    stmt.Bind(1, job_id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundJob(job_id);
    return static_cast<uint64_t>(stmt.Int(0));
  });
}

absl::StatusOr<v1::JobUpdate> SqliteStore::ReadUpdate(int64_t job_id, uint64_t after,
                                                      int max_events) {
  if (max_events < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_events must be at least 1, got ", max_events));
  }
  // One read transaction: the cursor and every row below come from the same snapshot.
  return Read([&](Connection& conn) -> absl::StatusOr<v1::JobUpdate> {
    v1::JobUpdate update;
    update.set_cursor(after);
    int64_t last_seq = 0;
    std::optional<int64_t> job_finished_seq;
    {
      STORE_ASSIGN_OR_RETURN(Statement stmt,
                             conn.Prepare("SELECT last_seq, finished_seq FROM jobs WHERE id = ?1"));
      stmt.Bind(1, job_id);
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return NotFoundJob(job_id);
      last_seq = stmt.Int(0);
      if (!stmt.IsNull(1)) job_finished_seq = stmt.Int(1);
    }
    if (static_cast<uint64_t>(last_seq) <= after) return update;
    // Every number up to last_seq belongs to an appended event, so the slice (after, hi] is
    // complete even where its events left nothing to show (JobStarted, a superseded start):
    // the cursor moves past them.
    const uint64_t hi = static_cast<uint64_t>(last_seq) - after <= static_cast<uint64_t>(max_events)
                            ? static_cast<uint64_t>(last_seq)
                            : after + static_cast<uint64_t>(max_events);
    const int64_t lo_seq = static_cast<int64_t>(after);
    const int64_t hi_seq = static_cast<int64_t>(hi);
    auto in_slice = [&](std::optional<int64_t> seq) {
      return seq && *seq > lo_seq && *seq <= hi_seq;
    };
    update.set_cursor(hi);

    struct RunRef {
      int64_t id = 0;
      int32_t index = 0;
      std::optional<int64_t> started_seq = {}, finished_seq = {}, restarted_seq = {};
      std::string restart_reason = {};
    };
    std::vector<RunRef> runs;
    {
      // runs(job_id, idx), the UNIQUE index: the job's few runs, in index order.
      STORE_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT id, idx, started_seq, finished_seq, restarted_seq, "
                       "restart_reason FROM runs WHERE job_id = ?1 ORDER BY idx"));
      stmt.Bind(1, job_id);
      while (true) {
        STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        RunRef ref{stmt.Int(0), static_cast<int32_t>(stmt.Int(1))};
        if (!stmt.IsNull(2)) ref.started_seq = stmt.Int(2);
        if (!stmt.IsNull(3)) ref.finished_seq = stmt.Int(3);
        if (!stmt.IsNull(4)) ref.restarted_seq = stmt.Int(4);
        ref.restart_reason = stmt.Text(5);
        runs.push_back(std::move(ref));
      }
    }

    // Parts in event order within each kind.
    std::vector<const RunRef*> started, finished, restarted;
    for (const RunRef& run : runs) {
      if (in_slice(run.started_seq)) started.push_back(&run);
      if (in_slice(run.finished_seq)) finished.push_back(&run);
      // Only a run's latest restart is kept in its row: an older one in the slice has nothing
      // left to show (its steps went aside with the newer one), so the newest says it all.
      if (in_slice(run.restarted_seq)) restarted.push_back(&run);
    }
    for (const RunRef* run : restarted) {
      v1::RunRestarted* part = update.add_runs_restarted();
      part->set_run_id(run->id);
      part->set_index(run->index);
      part->set_reason(run->restart_reason);
    }
    std::sort(started.begin(), started.end(),
              [](const RunRef* a, const RunRef* b) { return *a->started_seq < *b->started_seq; });
    std::sort(finished.begin(), finished.end(),
              [](const RunRef* a, const RunRef* b) { return *a->finished_seq < *b->finished_seq; });
    for (const RunRef* run : started) {
      v1::RunStarted* part = update.add_runs_started();
      part->set_run_id(run->id);
      part->set_index(run->index);
    }

    for (const RunRef& run : runs) {
      if (!run.started_seq) continue;  // a run that never started has no steps or evals
      // steps_by_seq (run_id, seq): one range scan, in seq order, which is step order for
      // anything the trainer appends; sorted by step anyway so the grouping never depends on it.
      std::vector<StepRow> rows;
      {
        STORE_ASSIGN_OR_RETURN(
            Statement stmt,
            conn.Prepare("SELECT step, loss, loss_class, seconds FROM steps "
                         "WHERE run_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq"));
        stmt.Bind(1, run.id).Bind(2, lo_seq).Bind(3, hi_seq);
        while (true) {
          STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
          if (!row) break;
          rows.push_back(StepRow{static_cast<int32_t>(stmt.Int(0)), ColumnFloat(stmt, 1, 2),
                                 static_cast<float>(stmt.Double(3))});
        }
      }
      std::stable_sort(rows.begin(), rows.end(),
                       [](const StepRow& a, const StepRow& b) { return a.step < b.step; });
      AddStepLosses(run.id, rows, &update);
    }

    for (const RunRef& run : runs) {
      if (!run.started_seq) continue;
      // evals_by_seq (run_id, seq), likewise.
      STORE_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT step, loss, loss_class, accuracy FROM evals "
                       "WHERE run_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq"));
      stmt.Bind(1, run.id).Bind(2, lo_seq).Bind(3, hi_seq);
      const int first = update.evals_size();
      while (true) {
        STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        v1::EvalResult* eval = update.add_evals();
        eval->set_run_id(run.id);
        eval->set_step(static_cast<int32_t>(stmt.Int(0)));
        eval->set_loss(ColumnFloat(stmt, 1, 2));
        eval->set_accuracy(static_cast<float>(stmt.Double(3)));
      }
      std::stable_sort(
          update.mutable_evals()->begin() + first, update.mutable_evals()->end(),
          [](const v1::EvalResult& a, const v1::EvalResult& b) { return a.step() < b.step(); });
    }

    for (const RunRef* run : finished) {
      STORE_ASSIGN_OR_RETURN(*update.add_runs_finished()->mutable_run(), LoadRun(conn, run->id));
    }
    if (in_slice(job_finished_seq)) {
      STORE_ASSIGN_OR_RETURN(*update.mutable_job_finished()->mutable_job(), LoadJob(conn, job_id));
    }
    return update;
  });
}

absl::StatusOr<Trajectory> SqliteStore::GetTrajectory(int64_t run_id) {
  return Read([&](Connection& conn) -> absl::StatusOr<Trajectory> {
    {
      STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT 1 FROM runs WHERE id = ?1"));
      stmt.Bind(1, run_id);
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return NotFoundRun(run_id);
    }
    Trajectory trajectory;
    trajectory.run_id = run_id;
    {
      // The primary key (run_id, step): one range, already in step order.
      STORE_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT step, loss, loss_class, weight_grad_norm, weight_grad_norm_class, "
                       "seconds FROM steps WHERE run_id = ?1 ORDER BY step"));
      stmt.Bind(1, run_id);
      while (true) {
        STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        trajectory.steps.push_back(static_cast<int32_t>(stmt.Int(0)));
        trajectory.losses.push_back(ColumnFloat(stmt, 1, 2));
        trajectory.weight_grad_norms.push_back(ColumnFloat(stmt, 3, 4));
        trajectory.step_seconds.push_back(static_cast<float>(stmt.Double(5)));
      }
    }
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("SELECT step, loss, loss_class, accuracy FROM evals WHERE run_id = ?1 "
                     "ORDER BY step"));
    stmt.Bind(1, run_id);
    while (true) {
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      v1::EvalResult& eval = trajectory.evals.emplace_back();
      eval.set_run_id(run_id);
      eval.set_step(static_cast<int32_t>(stmt.Int(0)));
      eval.set_loss(ColumnFloat(stmt, 1, 2));
      eval.set_accuracy(static_cast<float>(stmt.Double(3)));
    }
    return trajectory;
  });
}

absl::Status SqliteStore::PutArtifact(int64_t job_id, const Artifact& artifact) {
  if (artifact.name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("an artifact of job ", job_id, " has no name"));
  }
  // Hashed here, outside the write lock: a large file should not hold up the step stream.
  STORE_ASSIGN_OR_RETURN(std::string sha256, Sha256Hex(artifact.data));
  if (!artifact.sha256.empty() && absl::AsciiStrToLower(artifact.sha256) != sha256) {
    return absl::InvalidArgumentError(absl::StrCat("artifact \"", artifact.name, "\" of job ",
                                                   job_id, ": sha256 ", artifact.sha256,
                                                   " does not match its data (", sha256, ")"));
  }
  return Write([&](Connection& conn) -> absl::Status {
    STORE_RETURN_IF_ERROR(CheckJobExists(conn, job_id));
    // An upsert, not INSERT OR REPLACE: replacing keeps the row's id, so the file keeps its
    // place in ListArtifacts.
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

absl::StatusOr<Artifact> SqliteStore::GetArtifact(int64_t job_id, const std::string& name) {
  return Read([&](Connection& conn) -> absl::StatusOr<Artifact> {
    STORE_RETURN_IF_ERROR(CheckJobExists(conn, job_id));
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn.Prepare("SELECT content_type, data, sha256 FROM artifacts "
                                        "WHERE job_id = ?1 AND name = ?2"));
    stmt.Bind(1, job_id).BindText(2, name);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) {
      return absl::NotFoundError(absl::StrCat("job ", job_id, " has no file \"", name, "\""));
    }
    return Artifact{name, stmt.Text(0), stmt.Blob(1), stmt.Text(2)};
  });
}

absl::StatusOr<std::vector<std::string>> SqliteStore::ListArtifacts(int64_t job_id) {
  return Read([&](Connection& conn) -> absl::StatusOr<std::vector<std::string>> {
    STORE_RETURN_IF_ERROR(CheckJobExists(conn, job_id));
    STORE_ASSIGN_OR_RETURN(
        Statement stmt, conn.Prepare("SELECT name FROM artifacts WHERE job_id = ?1 ORDER BY id"));
    stmt.Bind(1, job_id);
    std::vector<std::string> names;
    while (true) {
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      names.push_back(stmt.Text(0));
    }
    return names;
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

// --- Classes, users and tokens ------------------------------------------------------------------

namespace {

const char* RoleName(Role role) { return role == Role::kInstructor ? "instructor" : "student"; }

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

absl::StatusOr<std::map<v1::JobState, int64_t>> SqliteStore::CountJobs() {
  return Read([](Connection& conn) -> absl::StatusOr<std::map<v1::JobState, int64_t>> {
    // jobs_by_state makes this an index scan, not a table scan.
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn.Prepare("SELECT state, count(*) FROM jobs GROUP BY state"));
    std::map<v1::JobState, int64_t> counts;
    while (true) {
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      STORE_ASSIGN_OR_RETURN(v1::JobState state, JobStateFromName(stmt.Text(0)));
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
