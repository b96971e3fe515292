// The store's codecs between SQLite rows and API values (see sqlite_codecs.h).
#include "server/store/sqlite_codecs.h"

#include <algorithm>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "server/store/job_notes.h"
#include "server/store/numbers.h"

namespace ablate::store {

namespace {

// The one place that maps the database's state words to the proto enums.

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

}  // namespace

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

// --- Reading jobs and runs --------------------------------------------------------------------

absl::Status NotFoundJob(int64_t job_id) {
  return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
}

absl::Status NotFoundRun(int64_t run_id) {
  return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
}

// The runs columns a v1::Run is made of, in the order of RunColumn.
namespace {

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

}  // namespace

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

}  // namespace ablate::store
