// The store's codecs between SQLite rows and API values (see sqlite_codecs.h).
#include "server/store/sqlite_codecs.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/store/job_notes.h"
#include "server/store/numbers.h"

namespace ablate::store {

absl::StatusOr<JobState> JobStateFromName(absl::string_view text) {
  if (std::optional<JobState> state = JobStateNamed(text)) return *state;
  return absl::DataLossError(absl::StrCat("unknown job state \"", text, "\" in the database"));
}

absl::StatusOr<RunState> RunStateFromName(absl::string_view text) {
  if (std::optional<RunState> state = RunStateNamed(text)) return *state;
  return absl::DataLossError(absl::StrCat("unknown run state \"", text, "\" in the database"));
}

// --- Times: INTEGER milliseconds since the Unix epoch ------------------------------------------

int64_t ToMillis(absl::Time t) { return absl::ToUnixMillis(t); }

int64_t ToMillisCeil(absl::Time t) {
  const int64_t floor = absl::ToUnixMillis(t);
  return absl::FromUnixMillis(floor) < t ? floor + 1 : floor;
}

absl::Time FromMillis(int64_t ms) { return absl::FromUnixMillis(ms); }

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

// --- Reading jobs and runs --------------------------------------------------------------------

absl::Status NotFoundJob(int64_t job_id) {
  return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
}

absl::Status NotFoundRun(int64_t run_id) {
  return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
}

namespace {

// The runs columns a RunRecord is made of, in the order of RunColumn.
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

absl::StatusOr<RunRecord> RunFromRow(const Statement& row) {
  RunRecord run;
  run.id = row.Int(kRunId);
  run.job_id = row.Int(kRunJobId);
  run.index = static_cast<int32_t>(row.Int(kRunIdx));
  run.spec.init = row.Text(kRunInit);
  if (!row.IsNull(kRunWeightSeed)) {
    run.spec.weight_seed = static_cast<uint64_t>(row.Int(kRunWeightSeed));
  }
  if (!row.IsNull(kRunUniformLow)) run.spec.uniform_low = row.Double(kRunUniformLow);
  if (!row.IsNull(kRunUniformHigh)) run.spec.uniform_high = row.Double(kRunUniformHigh);
  STORE_ASSIGN_OR_RETURN(run.state, RunStateFromName(row.Text(kRunState)));
  run.outcome = row.Text(kRunOutcome);
  run.steps_done = static_cast<int32_t>(row.Int(kRunStepsDone));
  run.seconds = row.Double(kRunSeconds);
  if (!row.IsNull(kRunStepsPerSecond)) {
    run.steps_per_second = row.Double(kRunStepsPerSecond);
  } else if (run.seconds > 0) {
    run.steps_per_second = run.steps_done / run.seconds;
  }
  if (!row.IsNull(kRunFirstNonfiniteStep)) {
    run.first_nonfinite_step = static_cast<int32_t>(row.Int(kRunFirstNonfiniteStep));
  }
  if (!row.IsNull(kRunFlatlineStep)) {
    run.flatline_step = static_cast<int32_t>(row.Int(kRunFlatlineStep));
  }
  if (!PairIsNull(row, kRunFinalLoss, kRunFinalLossClass)) {
    run.final_loss = ColumnFloat(row, kRunFinalLoss, kRunFinalLossClass);
  }
  if (!row.IsNull(kRunFinalEvalStep)) {
    run.final_eval = EvalRecord{
        .run_id = run.id,
        .step = static_cast<int32_t>(row.Int(kRunFinalEvalStep)),
        .loss = ColumnFloat(row, kRunFinalEvalLoss, kRunFinalEvalLossClass),
        .accuracy = static_cast<float>(row.Double(kRunFinalEvalAccuracy)),
    };
  }
  std::string what = absl::StrCat("init_stats of run ", run.id);
  STORE_RETURN_IF_ERROR(StatsFromJson(row.Text(kRunInitStats), &run.init_stats, what));
  what = absl::StrCat("final_stats of run ", run.id);
  STORE_RETURN_IF_ERROR(StatsFromJson(row.Text(kRunFinalStats), &run.final_stats, what));
  if (!row.IsNull(kRunStartedAt)) run.started_at = FromMillis(row.Int(kRunStartedAt));
  if (!row.IsNull(kRunFinishedAt)) run.finished_at = FromMillis(row.Int(kRunFinishedAt));
  if (!row.IsNull(kRunFingerprint)) run.fingerprint = row.Text(kRunFingerprint);
  run.restart_reason = row.Text(kRunRestartReason);
  return run;
}

}  // namespace

absl::StatusOr<RunRecord> LoadRun(Connection& conn, int64_t run_id) {
  static const std::string kSql = absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE id = ?1");
  STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(kSql));
  stmt.Bind(1, run_id);
  STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFoundRun(run_id);
  return RunFromRow(stmt);
}

absl::StatusOr<JobRecord> LoadJob(Connection& conn, int64_t job_id) {
  JobRecord job;
  {
    STORE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("SELECT id, name, owner, state, spec_proto, error, created_at, "
                     "started_at, finished_at FROM jobs WHERE id = ?1"));
    stmt.Bind(1, job_id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundJob(job_id);
    job.id = stmt.Int(0);
    job.name = stmt.Text(1);
    job.owner = stmt.Text(2);
    STORE_ASSIGN_OR_RETURN(job.state, JobStateFromName(stmt.Text(3)));
    job.spec_proto = stmt.Blob(4);
    job.error = stmt.Text(5);
    job.created_at = FromMillis(stmt.Int(6));
    if (!stmt.IsNull(7)) job.started_at = FromMillis(stmt.Int(7));
    if (!stmt.IsNull(8)) job.finished_at = FromMillis(stmt.Int(8));
  }
  STORE_RETURN_IF_ERROR(LoadJobNotes(conn, job));
  static const std::string kRunsSql =
      absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE job_id = ?1 ORDER BY idx");
  STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(kRunsSql));
  stmt.Bind(1, job_id);
  while (true) {
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    STORE_ASSIGN_OR_RETURN(job.runs.emplace_back(), RunFromRow(stmt));
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
