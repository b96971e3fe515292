// Text the CLI prints: numbers, times, tables, CSV and JSON. Pure functions of their inputs
// (time zones are passed in), so tests pin the exact output that scripts may rely on.
#ifndef ABLATE_CLIENT_FORMAT_H_
#define ABLATE_CLIENT_FORMAT_H_

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <optional>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ablate::client {

// --- Numbers ----------------------------------------------------------------------------------

// A loss for people: 4 significant digits ("0.6931", "23.45", "1.235e+05"); "nan", "inf",
// "-inf" for non-finite values.
std::string FormatLoss(double loss);

// A loss for machines: the shortest text that reads back as the same float ("0.6931472");
// "nan", "inf", "-inf" for non-finite values.
std::string FormatLossExact(float loss);

// Rows "step,loss,val_loss,val_accuracy" under that header line, one per point, each line
// ending in '\n': the validation in the row of its step (empty elsewhere; its accuracy empty
// when the validation measured none, EvalResult.accuracy), and a row of its
// own for an evaluation at a step without a loss (the one after the last update). The same
// columns as the page's CSV download (web/src/series.js, trajectoryCsv).
// Requires: steps.size() == losses.size().
std::string TrajectoryCsv(const v1::GetTrajectoryResponse& trajectory);

// --- Text -----------------------------------------------------------------------------------

// Columns `text` takes on a terminal: its UTF-8 code points.
size_t DisplayWidth(absl::string_view text);

// `text` cut to at most `max_width` columns, ending in "~" when something was cut.
std::string Truncate(absl::string_view text, size_t max_width);

// --- Names ------------------------------------------------------------------------------------

// "queued", "running", "succeeded", "failed", "cancelled" ("unspecified" for 0).
absl::string_view JobStateName(v1::JobState state);
// "queued", "running", "completed", "diverged", "cancelled", "failed".
absl::string_view RunStateName(v1::RunState state);
// The inverse of JobStateName for --state, case-insensitive; nullopt for anything else.
std::optional<v1::JobState> ParseJobStateName(absl::string_view name);

// A run's outcome in a few characters, for tables: "completed", "flatlined@412",
// "diverged@20", "cancelled@300", "running@512", "queued", "failed".
std::string CompactOutcome(const v1::Run& run);

// --- Times ------------------------------------------------------------------------------------

// Parses --since/--until: an ISO-8601 date ("2024-05-01"), or date and time
// ("2024-05-01T14:30", "2024-05-01 14:30:15", with optional fractional seconds), with an
// optional UTC offset ("Z", "+02:00"); without one the time is in `zone`.
// A bare date means the start of that day, or with `end_of_day` the start of the next day
// (so "--until 2024-05-01" includes all of May 1).
// Errors (InvalidArgument) read "<flag>: '<text>' is not an ISO-8601 date or time (...)".
absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view flag, absl::string_view text,
                                         absl::TimeZone zone, bool end_of_day);

// `time` as a protobuf Timestamp (seconds floored, nanos in [0, 1e9)).
google::protobuf::Timestamp ToTimestamp(absl::Time time);

// "2024-05-01 14:30" in `zone`; "-" for an unset timestamp.
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp, absl::TimeZone zone);

// "1.5 s", "2 min 5 s", "1 h 3 min".
std::string HumanDuration(absl::Duration duration);

// --- Tables and reports -----------------------------------------------------------------------

// Columns padded to their widest cell, two spaces apart, no trailing spaces; one line per
// row, each ending in '\n'. Columns whose index is in `right_aligned` are aligned right.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        const std::vector<size_t>& right_aligned = {});

// The `ablate list` table: a header ID CREATED OWNER NAME STATE RUNS, then one row per job in
// the order given; RUNS is "init:outcome" per run (CompactOutcome), space separated.
std::string FormatJobList(const std::vector<v1::Job>& jobs, absl::TimeZone zone);

// What `ablate list --sort` orders by: a job's best (lowest) run's final training loss, or its
// best run's last validation loss. Runs without a finite value do not count; jobs with none go
// last, newest first among themselves, as do ties.
enum class JobSortKey { kNewest, kFinalLoss, kValLoss };
// "final", "val" or "newest"; none for anything else.
std::optional<JobSortKey> ParseJobSortKey(absl::string_view text);
// The job's value for `key` (kNewest: none).
std::optional<double> JobSortValue(const v1::Job& job, JobSortKey key);
// Sorts `jobs` by `key`, ascending, stable.
void SortJobs(std::vector<v1::Job>& jobs, JobSortKey key);

// One line describing a spec: "depth 12, width 256, ... · 3 runs: uniform, xavier, kaiming".
std::string FormatSpecSummary(const v1::JobSpec& spec);

// "uniform[-0.5, 0.5] seed 101", "kaiming seed 103": a run's init as the spec says it.
std::string FormatRunInit(const v1::RunSpec& spec);

// The `ablate show` report: the job's header and spec, then a table of its runs.
std::string FormatJobDetails(const v1::Job& job, absl::TimeZone zone);

// The `ablate trajectory` report: what was recorded, a table of about `rows` evenly spaced
// points of those returned (always the first, the last and the first non-finite step; every
// point when `rows` <= 0), and up to that many validation results.
std::string FormatTrajectoryReport(const v1::GetTrajectoryResponse& trajectory, int rows);

// --- JSON -------------------------------------------------------------------------------------

// The protobuf JSON mapping (lowerCamelCase names, enums by name, 64-bit integers as
// strings, NaN as "NaN"), indented, with fields at their default values printed too so
// scripts find every field; ends in '\n'.
std::string ToJson(const google::protobuf::Message& message);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_FORMAT_H_
