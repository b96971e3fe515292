// How the SQLite store spells its records in rows, and reads them back: states, times, floats
// that may be non-finite, and whole job and run rows. Internal to
// server/store/ (the sqlite_*.cc files share it); one copy of each rule.
#ifndef ABLATE_SERVER_STORE_SQLITE_CODECS_H_
#define ABLATE_SERVER_STORE_SQLITE_CODECS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/store/records.h"
#include "server/store/sqlite_conn.h"

namespace ablate::store {

// --- States: the database spells them with StateName's words (records.h, schema.sql) ----------

// The state a word names; DataLoss for any other text (the database holds only these words).
absl::StatusOr<JobState> JobStateFromName(absl::string_view text);
absl::StatusOr<RunState> RunStateFromName(absl::string_view text);

// --- Times: INTEGER milliseconds since the Unix epoch ------------------------------------------

// Whole milliseconds, rounded down.
int64_t ToMillis(absl::Time t);
// The smallest whole millisecond at or after `t`: stored times are whole milliseconds, so
// "created_at >= t" and "created_at < t" both hold exactly when they hold against this.
int64_t ToMillisCeil(absl::Time t);
absl::Time FromMillis(int64_t ms);

// --- Floats that may be non-finite: a (value, class) column pair (numbers.h) ------------------

// Binds `value` to the pair of parameters.
void BindFloat(Statement& stmt, int value_index, int class_index, float value);
// The float a (value, class) column pair holds. Both NULL only where the pair is optional;
// callers check PairIsNull first.
float ColumnFloat(const Statement& stmt, int value_column, int class_column);
bool PairIsNull(const Statement& stmt, int value_column, int class_column);
// InvalidArgument: "<what> must be finite, got <value>".
absl::Status NotFinite(float value, absl::string_view what);

// --- Jobs and runs ----------------------------------------------------------------------------

// NotFound, naming the id.
absl::Status NotFoundJob(int64_t job_id);
absl::Status NotFoundRun(int64_t run_id);
// The job with its runs, or the run, as one read on `conn`.
absl::StatusOr<JobRecord> LoadJob(Connection& conn, int64_t job_id);
absl::StatusOr<RunRecord> LoadRun(Connection& conn, int64_t run_id);
// NotFound unless the job exists.
absl::Status CheckJobExists(Connection& conn, int64_t job_id);

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_SQLITE_CODECS_H_
