// How the SQLite store spells API values in its rows, and reads them back: state names, times,
// floats that may be non-finite, the job's spec, and whole job and run rows. Internal to
// server/store/ (the sqlite_*.cc files share it); one copy of each rule.
#ifndef ABLATE_SERVER_STORE_SQLITE_CODECS_H_
#define ABLATE_SERVER_STORE_SQLITE_CODECS_H_

#include <cstdint>
#include <string>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/store/sqlite_conn.h"

namespace ablate::store {

// --- States: the database spells them as lowercase words (schema.sql) -------------------------

// The state's word; nullptr for a value that is not a state (UNSPECIFIED, or out of range).
const char* NameOf(v1::JobState state);
const char* NameOf(v1::RunState state);
// The state a word names; DataLoss for any other text (the database holds only these words).
absl::StatusOr<v1::JobState> JobStateFromName(absl::string_view text);
absl::StatusOr<v1::RunState> RunStateFromName(absl::string_view text);
// Whether the state is an end: no event changes it again.
bool IsTerminal(v1::JobState state);
bool IsTerminal(v1::RunState state);

// --- Times: INTEGER milliseconds since the Unix epoch ------------------------------------------

int64_t ToMillis(absl::Time t);
google::protobuf::Timestamp MillisToProto(int64_t ms);
// Whole milliseconds, truncated like ToMillis.
int64_t ProtoToMillisFloor(const google::protobuf::Timestamp& ts);
// The smallest whole millisecond at or after `ts`. InvalidArgument, naming `field`, for nanos
// outside 0–999999999.
absl::StatusOr<int64_t> ProtoToMillisCeil(const google::protobuf::Timestamp& ts,
                                          absl::string_view field);

// --- Floats that may be non-finite: a (value, class) column pair (numbers.h) ------------------

// Binds `value` to the pair of parameters.
void BindFloat(Statement& stmt, int value_index, int class_index, float value);
// The float a (value, class) column pair holds. Both NULL only where the pair is optional;
// callers check PairIsNull first.
float ColumnFloat(const Statement& stmt, int value_column, int class_column);
bool PairIsNull(const Statement& stmt, int value_column, int class_column);
// InvalidArgument: "<what> must be finite, got <value>".
absl::Status NotFinite(float value, absl::string_view what);

// --- The job's spec: binary protobuf (jobs.spec_proto), with a JSON view (jobs.spec) ----------

absl::StatusOr<std::string> SpecJsonView(const v1::JobSpec& spec);
// DataLoss, naming the job, for bytes that are not a JobSpec.
absl::Status SpecFromProto(const std::string& bytes, int64_t job_id, v1::JobSpec* spec);

// --- Jobs and runs ----------------------------------------------------------------------------

// NotFound, naming the id.
absl::Status NotFoundJob(int64_t job_id);
absl::Status NotFoundRun(int64_t run_id);
// The job with its runs, or the run, as one read on `conn`.
absl::StatusOr<v1::Job> LoadJob(Connection& conn, int64_t job_id);
absl::StatusOr<v1::Run> LoadRun(Connection& conn, int64_t run_id);
// NotFound unless the job exists.
absl::Status CheckJobExists(Connection& conn, int64_t job_id);

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_SQLITE_CODECS_H_
