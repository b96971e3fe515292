// The append path: one Append call is one transaction that applies a batch of events in
// order (see JobStore::Append for the contract and schema.sql, runs, for the aggregates).
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
#include <unordered_map>
#include <variant>

#include "server/store/numbers.h"

namespace ablate::store {

namespace {

// A state's word for an error message, "unspecified" for none.
template <typename State>
const char* Spelled(State state) {
  const char* name = StateName(state);
  return name != nullptr ? name : "unspecified";
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
    RunState state = RunState::kUnspecified;
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
    STORE_ASSIGN_OR_RETURN(JobState state, JobStateFromName(stmt.Text(1)));
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
        absl::StrCat(what, " for run ", run_id, ", which is ", Spelled(run.state),
                     run.state == RunState::kQueued ? " (RunStarted must come first)" : ""));
  }

  absl::Status On(const RunStartedEvent& e) {
    STORE_ASSIGN_OR_RETURN(RunInfo * run, Run(e.run_id));
    if (IsTerminal(run->state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "RunStarted for run ", e.run_id, ", which has already ended (", Spelled(run->state), ")"));
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
    run->state = RunState::kRunning;
    return absl::OkStatus();
  }

  // Moves the run's steps and evals aside (whole-row copies, then deletes), in the same
  // transaction as the reset of its summary: a crash leaves either the old trajectory or none,
  // and the set-aside rows either way.
  absl::Status On(const RunRestartedEvent& e) {
    STORE_ASSIGN_OR_RETURN(RunInfo * run, Run(e.run_id));
    if (IsTerminal(run->state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "RunRestarted for run ", e.run_id, ", which has ended (", Spelled(run->state), ")"));
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
    if (run->state != RunState::kRunning) {
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
    if (run->state != RunState::kRunning) {
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
    const RunRecord& s = e.summary;
    STORE_ASSIGN_OR_RETURN(RunInfo * run, Run(s.id));
    if (s.job_id != 0 && s.job_id != run->job_id) {
      return absl::InvalidArgumentError(absl::StrCat("RunFinished for run ", s.id, " names job ",
                                                     s.job_id, ", but the run is job ",
                                                     run->job_id, "'s"));
    }
    if (!IsTerminal(s.state)) {
      return absl::InvalidArgumentError(
          absl::StrCat("RunFinished for run ", s.id, " has state ", Spelled(s.state),
                       "; it must be completed, diverged, cancelled or failed"));
    }
    if (IsTerminal(run->state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "RunFinished for run ", s.id, ", which has already ended (", Spelled(run->state), ")"));
    }
    // Fold this batch's steps in first: the UPDATE below reads them.
    STORE_RETURN_IF_ERROR(FlushSteps(s.id, *run));
    STORE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(run->job_id));
    const std::string init_stats = StatsToJson(s.init_stats);
    const std::string final_stats = StatsToJson(s.final_stats);
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
    stmt.Bind(1, s.id).BindText(2, Spelled(s.state)).BindText(3, s.outcome);
    stmt.Bind(4, int64_t{s.steps_done});
    if (s.first_nonfinite_step) stmt.Bind(5, int64_t{*s.first_nonfinite_step});
    if (s.flatline_step) stmt.Bind(6, int64_t{*s.flatline_step});
    if (s.final_loss) BindFloat(stmt, 7, 8, *s.final_loss);
    if (s.final_eval) {
      if (!std::isfinite(s.final_eval->accuracy)) {
        return NotFinite(s.final_eval->accuracy,
                         absl::StrCat("run ", s.id, ": final_eval.accuracy"));
      }
      stmt.Bind(9, int64_t{s.final_eval->step});
      BindFloat(stmt, 10, 11, s.final_eval->loss);
      stmt.Bind(12, static_cast<double>(s.final_eval->accuracy));
    }
    stmt.BindText(13, init_stats).BindText(14, final_stats);
    stmt.Bind(15, s.seconds).Bind(16, s.steps_per_second);
    if (s.finished_at) stmt.Bind(17, ToMillis(*s.finished_at));
    stmt.Bind(18, seq);
    STORE_RETURN_IF_ERROR(stmt.Run());
    run->state = s.state;
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
          absl::StrCat("JobFinished for job ", e.job_id, " has state ", Spelled(e.state),
                       "; it must be succeeded, failed or cancelled"));
    }
    STORE_ASSIGN_OR_RETURN(JobInfo * job, Job(e.job_id));
    if (job->finished) return NextSeq(e.job_id).status();  // names the job
    // A job never ends while one of its runs has not (its end was lost): such a run ends here,
    // with its own event before the job's, failed (cancelled, in a cancelled job), and a job
    // reported as succeeded fails.
    JobState state = e.state;
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
      const bool cancelled = e.state == JobState::kCancelled;
      const std::string outcome = cancelled ? "cancelled with its job"
                                            : "its end was never recorded before its job ended";
      RunFinishedEvent end;
      end.summary.id = run_id;
      end.summary.state = cancelled ? RunState::kCancelled : RunState::kFailed;
      end.summary.outcome = outcome;
      end.summary.finished_at = e.at;
      STORE_RETURN_IF_ERROR(On(end));
      if (state == JobState::kSucceeded) {
        state = JobState::kFailed;
        error = absl::StrCat("run ", idx, ": ", outcome);
      }
    }
    STORE_ASSIGN_OR_RETURN(int64_t seq, NextSeq(e.job_id));
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn_.Prepare("UPDATE jobs SET state = ?2, error = ?3, "
                                         "finished_at = ?4, finished_seq = ?5 WHERE id = ?1"));
    stmt.Bind(1, e.job_id).BindText(2, Spelled(state)).BindText(3, error);
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

}  // namespace

absl::StatusOr<std::vector<JobCursor>> SqliteStore::Append(std::span<const Event> events) {
  return Write([&](Connection& conn) -> absl::StatusOr<std::vector<JobCursor>> {
    AppendBatch batch(conn);
    for (const Event& event : events) STORE_RETURN_IF_ERROR(batch.Apply(event));
    return batch.Finish();
  });
}

}  // namespace ablate::store
