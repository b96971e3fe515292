// Reading back what the append path recorded: a job's cursor, the update slice after a cursor
// (what WatchJob streams) and a run's whole trajectory.
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

namespace {

// --- ReadUpdate helpers -----------------------------------------------------------------------

struct StepRow {
  int32_t step;
  float loss;
  float seconds;
};

// Appends `rows` (one run's, ascending by step) to `update` as spans of consecutive steps.
void AddStepSpans(int64_t run_id, const std::vector<StepRow>& rows, StoredUpdate* update) {
  StepSpan* group = nullptr;
  int32_t next_step = 0;
  for (const StepRow& row : rows) {
    if (group == nullptr || row.step != next_step) {
      group = &update->steps.emplace_back();
      group->run_id = run_id;
      group->first_step = row.step;
    }
    group->losses.push_back(row.loss);
    group->seconds.push_back(row.seconds);
    next_step = row.step + 1;
  }
}

}  // namespace

absl::StatusOr<uint64_t> SqliteStore::Cursor(int64_t job_id) {
  return Read([&](Connection& conn) -> absl::StatusOr<uint64_t> {
    STORE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT last_seq FROM jobs WHERE id = ?1"));
    stmt.Bind(1, job_id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundJob(job_id);
    return static_cast<uint64_t>(stmt.Int(0));
  });
}

absl::StatusOr<StoredUpdate> SqliteStore::ReadUpdate(int64_t job_id, uint64_t after,
                                                      int max_events) {
  if (max_events < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_events must be at least 1, got ", max_events));
  }
  // One read transaction: the cursor and every row below come from the same snapshot.
  return Read([&](Connection& conn) -> absl::StatusOr<StoredUpdate> {
    StoredUpdate update;
    update.cursor = after;
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
    update.cursor = hi;

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
      update.runs_restarted.push_back(
          RunRestartedMark{.run_id = run->id, .index = run->index, .reason = run->restart_reason});
    }
    std::sort(started.begin(), started.end(),
              [](const RunRef* a, const RunRef* b) { return *a->started_seq < *b->started_seq; });
    std::sort(finished.begin(), finished.end(),
              [](const RunRef* a, const RunRef* b) { return *a->finished_seq < *b->finished_seq; });
    for (const RunRef* run : started) {
      update.runs_started.push_back(RunStartedMark{.run_id = run->id, .index = run->index});
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
      AddStepSpans(run.id, rows, &update);
    }

    for (const RunRef& run : runs) {
      if (!run.started_seq) continue;
      // evals_by_seq (run_id, seq), likewise.
      STORE_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT step, loss, loss_class, accuracy FROM evals "
                       "WHERE run_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq"));
      stmt.Bind(1, run.id).Bind(2, lo_seq).Bind(3, hi_seq);
      const size_t first = update.evals.size();
      while (true) {
        STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        update.evals.push_back(EvalRecord{.run_id = run.id,
                                          .step = static_cast<int32_t>(stmt.Int(0)),
                                          .loss = ColumnFloat(stmt, 1, 2),
                                          .accuracy = static_cast<float>(stmt.Double(3))});
      }
      std::stable_sort(update.evals.begin() + first, update.evals.end(),
                       [](const EvalRecord& a, const EvalRecord& b) { return a.step < b.step; });
    }

    for (const RunRef* run : finished) {
      STORE_ASSIGN_OR_RETURN(update.runs_finished.emplace_back(), LoadRun(conn, run->id));
    }
    if (in_slice(job_finished_seq)) {
      STORE_ASSIGN_OR_RETURN(update.job_finished, LoadJob(conn, job_id));
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
      trajectory.evals.push_back(EvalRecord{.run_id = run_id,
                                            .step = static_cast<int32_t>(stmt.Int(0)),
                                            .loss = ColumnFloat(stmt, 1, 2),
                                            .accuracy = static_cast<float>(stmt.Double(3))});
    }
    return trajectory;
  });
}

}  // namespace ablate::store
