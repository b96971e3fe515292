#include "client/format.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "proto/json.h"

namespace ablate::client {
namespace {

std::string NonFinite(double value) {
  if (std::isnan(value)) return "nan";
  return value > 0 ? "inf" : "-inf";
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

bool IsSet(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

std::string Percent(double fraction) { return absl::StrFormat("%.1f%%", 100 * fraction); }

// A validation's accuracy, or n/a when none was measured (its loss was not finite).
std::string Accuracy(const v1::EvalResult& eval) {
  return eval.has_accuracy() ? Percent(eval.accuracy()) : "n/a";
}

std::string OptionalStep(bool has, int32_t step) { return has ? absl::StrCat(step) : "-"; }

// The spec's lines for `show`, each only with the fields that are set.
std::string ModelLine(const v1::ModelSpec& m) {
  std::vector<std::string> parts;
  if (m.has_depth()) parts.push_back(absl::StrCat("depth ", m.depth()));
  if (m.has_width()) parts.push_back(absl::StrCat("width ", m.width()));
  if (m.has_input_dim()) parts.push_back(absl::StrCat("input dim ", m.input_dim()));
  if (m.has_classes()) parts.push_back(absl::StrCat("classes ", m.classes()));
  return absl::StrJoin(parts, ", ");
}

std::string DataLine(const v1::DataSpec& d) {
  std::vector<std::string> parts;
  if (d.has_train_size()) parts.push_back(absl::StrCat(d.train_size(), " train"));
  if (d.has_val_size()) parts.push_back(absl::StrCat(d.val_size(), " val"));
  if (d.has_label_dims()) parts.push_back(absl::StrCat("label dims ", d.label_dims()));
  if (d.has_seed()) parts.push_back(absl::StrCat("seed ", d.seed()));
  return absl::StrJoin(parts, ", ");
}

std::string TrainingLine(const v1::TrainingSpec& t) {
  std::vector<std::string> parts;
  if (t.has_steps()) parts.push_back(absl::StrCat(t.steps(), " steps"));
  if (t.has_lr()) parts.push_back(absl::StrFormat("lr %g", t.lr()));
  if (t.has_momentum()) parts.push_back(absl::StrFormat("momentum %g", t.momentum()));
  if (t.has_batch()) parts.push_back(absl::StrCat("batch ", t.batch()));
  if (t.has_eval_every()) parts.push_back(absl::StrCat("eval every ", t.eval_every()));
  if (t.has_stop_on_nonfinite()) {
    parts.push_back(t.stop_on_nonfinite() ? "stop at the first non-finite loss"
                                          : "continue after non-finite losses");
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;  // count lead bytes only
  return width;
}

std::string Truncate(absl::string_view text, size_t max_width) {
  if (DisplayWidth(text) <= max_width) return std::string(text);
  if (max_width == 0) return "";
  // Keep max_width - 1 code points, then the marker.
  size_t kept = 0, end = 0;
  while (end < text.size()) {
    const bool lead = (static_cast<unsigned char>(text[end]) & 0xC0) != 0x80;
    if (lead && kept == max_width - 1) break;
    kept += lead;
    ++end;
  }
  return absl::StrCat(text.substr(0, end), "~");
}

std::string FormatLoss(double loss) {
  if (!std::isfinite(loss)) return NonFinite(loss);
  return absl::StrFormat("%.4g", loss);
}

std::string FormatLossExact(float loss) {
  if (!std::isfinite(loss)) return NonFinite(loss);
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), loss);
  return std::string(buffer, result.ptr);
}

std::string TrajectoryCsv(const v1::GetTrajectoryResponse& trajectory) {
  std::string csv = "step,loss,val_loss,val_accuracy\n";
  const int n = std::min(trajectory.steps_size(), trajectory.losses_size());
  auto eval_row = [&csv](const v1::EvalResult& eval, const std::string& loss) {
    // No accuracy (a non-finite loss) is an empty field, as a missing validation is.
    absl::StrAppend(&csv, eval.step(), ",", loss, ",", FormatLossExact(eval.loss()), ",",
                    eval.has_accuracy() ? FormatLossExact(eval.accuracy()) : "", "\n");
  };
  // Both lists ascend by step: merge them.
  int e = 0;
  const int m = trajectory.evals_size();
  for (int i = 0; i < n; ++i) {
    const int32_t step = trajectory.steps(i);
    for (; e < m && trajectory.evals(e).step() < step; ++e) eval_row(trajectory.evals(e), "");
    if (e < m && trajectory.evals(e).step() == step) {
      eval_row(trajectory.evals(e++), FormatLossExact(trajectory.losses(i)));
    } else {
      absl::StrAppend(&csv, step, ",", FormatLossExact(trajectory.losses(i)), ",,\n");
    }
  }
  for (; e < m; ++e) eval_row(trajectory.evals(e), "");
  return csv;
}

absl::string_view JobStateName(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_QUEUED:
      return "queued";
    case v1::JOB_STATE_RUNNING:
      return "running";
    case v1::JOB_STATE_SUCCEEDED:
      return "succeeded";
    case v1::JOB_STATE_FAILED:
      return "failed";
    case v1::JOB_STATE_CANCELLED:
      return "cancelled";
    default:
      return "unspecified";
  }
}

absl::string_view RunStateName(v1::RunState state) {
  switch (state) {
    case v1::RUN_STATE_QUEUED:
      return "queued";
    case v1::RUN_STATE_RUNNING:
      return "running";
    case v1::RUN_STATE_COMPLETED:
      return "completed";
    case v1::RUN_STATE_DIVERGED:
      return "diverged";
    case v1::RUN_STATE_CANCELLED:
      return "cancelled";
    case v1::RUN_STATE_FAILED:
      return "failed";
    default:
      return "unspecified";
  }
}

std::optional<v1::JobState> ParseJobStateName(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
  for (v1::JobState state : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED,
                             v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED}) {
    if (lower == JobStateName(state)) return state;
  }
  return std::nullopt;
}

std::string CompactOutcome(const v1::Run& run) {
  switch (run.state()) {
    case v1::RUN_STATE_COMPLETED:
      if (run.has_flatline_step()) return absl::StrCat("flatlined@", run.flatline_step());
      if (run.has_first_nonfinite_step()) {
        return absl::StrCat("nonfinite@", run.first_nonfinite_step());
      }
      return "completed";
    case v1::RUN_STATE_DIVERGED:
      return absl::StrCat("diverged@", run.has_first_nonfinite_step()
                                           ? run.first_nonfinite_step()
                                           : std::max(0, run.steps_done() - 1));
    case v1::RUN_STATE_CANCELLED:
      return absl::StrCat("cancelled@", run.steps_done());
    case v1::RUN_STATE_RUNNING:
      return absl::StrCat("running@", run.steps_done());
    default:
      return std::string(RunStateName(run.state()));
  }
}

absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view flag, absl::string_view text,
                                         absl::TimeZone zone, bool end_of_day) {
  std::string input(absl::StripAsciiWhitespace(text));
  // "2024-05-01 14:30" reads as "2024-05-01T14:30"; a trailing Z is the +00:00 offset.
  if (input.size() > 10 && input[10] == ' ') input[10] = 'T';
  if (!input.empty() && (input.back() == 'Z' || input.back() == 'z')) {
    input.pop_back();
    input += "+00:00";
  }
  absl::CivilDay day;
  if (input.size() == 10 && absl::ParseCivilTime(input, &day)) {
    return absl::FromCivil(end_of_day ? day + 1 : day, zone);
  }
  for (const char* format : {"%Y-%m-%d%ET%H:%M:%E*S%Ez", "%Y-%m-%d%ET%H:%M%Ez",
                             "%Y-%m-%d%ET%H:%M:%E*S", "%Y-%m-%d%ET%H:%M"}) {
    absl::Time time;
    std::string error;
    if (absl::ParseTime(format, input, zone, &time, &error)) return time;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": '", text,
                   "' is not an ISO-8601 date or time (e.g. 2024-05-01, 2024-05-01T14:30 or "
                   "2024-05-01T14:30:00Z)"));
}

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  const int64_t seconds = absl::ToUnixSeconds(time);  // floors
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return timestamp;
}

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp, absl::TimeZone zone) {
  if (!IsSet(timestamp)) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M", ToTime(timestamp), zone);
}

std::string HumanDuration(absl::Duration duration) {
  const double seconds = absl::ToDoubleSeconds(duration);
  if (seconds < 60) return absl::StrFormat("%.1f s", seconds);
  const int64_t whole = static_cast<int64_t>(seconds);
  if (whole < 3600) return absl::StrFormat("%d min %d s", whole / 60, whole % 60);
  return absl::StrFormat("%d h %d min", whole / 3600, whole % 3600 / 60);
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        const std::vector<size_t>& right_aligned) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const size_t pad = widths[c] - DisplayWidth(row[c]);
      const bool right =
          std::find(right_aligned.begin(), right_aligned.end(), c) != right_aligned.end();
      if (c > 0) line += "  ";
      if (right) line.append(pad, ' ');
      line += row[c];
      if (!right) line.append(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string FormatJobList(const std::vector<v1::Job>& jobs, absl::TimeZone zone) {
  std::vector<std::vector<std::string>> rows;
  // The TAGS column only when a job has tags: most lists have none.
  const bool tags = std::any_of(jobs.begin(), jobs.end(),
                                [](const v1::Job& job) { return job.tags_size() > 0; });
  rows.push_back({"ID", "CREATED", "OWNER", "NAME", "STATE", "RUNS"});
  if (tags) rows[0].insert(rows[0].begin() + 4, "TAGS");
  for (const v1::Job& job : jobs) {
    std::vector<std::string> runs;
    for (const v1::Run& run : job.runs()) {
      runs.push_back(absl::StrCat(run.spec().init(), ":", CompactOutcome(run)));
    }
    rows.push_back({absl::StrCat(job.id()), FormatTimestamp(job.created_at(), zone),
                    Truncate(job.owner(), 16), Truncate(job.name(), 32),
                    std::string(JobStateName(job.state())), absl::StrJoin(runs, " ")});
    if (tags) {
      rows.back().insert(rows.back().begin() + 4,
                         job.tags_size() > 0 ? absl::StrJoin(job.tags(), ",") : "-");
    }
  }
  return FormatTable(rows, {0});
}

std::optional<JobSortKey> ParseJobSortKey(absl::string_view text) {
  if (text == "final") return JobSortKey::kFinalLoss;
  if (text == "val") return JobSortKey::kValLoss;
  if (text == "newest") return JobSortKey::kNewest;
  return std::nullopt;
}

std::optional<double> JobSortValue(const v1::Job& job, JobSortKey key) {
  std::optional<double> best;
  for (const v1::Run& run : job.runs()) {
    std::optional<double> value;
    if (key == JobSortKey::kFinalLoss && run.has_final_loss()) value = run.final_loss();
    if (key == JobSortKey::kValLoss && run.has_final_eval()) value = run.final_eval().loss();
    if (value && std::isfinite(*value) && (!best || *value < *best)) best = value;
  }
  return best;
}

void SortJobs(std::vector<v1::Job>& jobs, JobSortKey key) {
  if (key == JobSortKey::kNewest) return;
  std::stable_sort(jobs.begin(), jobs.end(), [key](const v1::Job& a, const v1::Job& b) {
    const std::optional<double> x = JobSortValue(a, key), y = JobSortValue(b, key);
    if (x && y) return *x < *y;
    return x.has_value() && !y.has_value();
  });
}

std::string FormatRunInit(const v1::RunSpec& spec) {
  std::string text = spec.init();
  if (spec.init() == "uniform" && (spec.has_uniform_low() || spec.has_uniform_high())) {
    absl::StrAppendFormat(&text, "[%g, %g]", spec.uniform_low(), spec.uniform_high());
  }
  if (spec.has_weight_seed()) absl::StrAppend(&text, " seed ", spec.weight_seed());
  return text;
}

std::string FormatSpecSummary(const v1::JobSpec& spec) {
  std::vector<std::string> inits;
  for (const v1::RunSpec& run : spec.runs()) inits.push_back(run.init());
  std::vector<std::string> parts;
  for (std::string part :
       {ModelLine(spec.model()), DataLine(spec.data()), TrainingLine(spec.training())}) {
    if (!part.empty()) parts.push_back(std::move(part));
  }
  if (!inits.empty()) {
    parts.push_back(absl::StrCat(
        inits.size(), inits.size() == 1 ? " run: " : " runs: ", absl::StrJoin(inits, ", ")));
  }
  return absl::StrJoin(parts, "; ");
}

std::string FormatJobDetails(const v1::Job& job, absl::TimeZone zone) {
  std::string waiting;
  if (job.has_runs_ahead()) {
    const int ahead = job.runs_ahead();
    waiting = ahead == 0   ? "; its next run starts next"
              : ahead == 1 ? "; 1 run of the queue starts before its next"
                           : absl::StrCat("; ", ahead, " runs of the queue start before its next");
  }
  std::string out = absl::StrCat("job ", job.id(), ": ", job.name(), " (",
                                 JobStateName(job.state()), waiting, ")\n");
  std::vector<std::vector<std::string>> header;
  // A line whose value is empty shows "-".
  auto add = [&header](const char* label, std::string value) {
    header.push_back({label, value.empty() ? std::string(1, '-') : std::move(value)});
  };
  add("owner:", job.owner());
  add("created:", FormatTimestamp(job.created_at(), zone));
  if (IsSet(job.started_at())) add("started:", FormatTimestamp(job.started_at(), zone));
  if (IsSet(job.finished_at())) {
    std::string finished = FormatTimestamp(job.finished_at(), zone);
    if (IsSet(job.started_at())) {
      absl::StrAppend(&finished, " (took ",
                      HumanDuration(ToTime(job.finished_at()) - ToTime(job.started_at())), ")");
    }
    add("finished:", std::move(finished));
  }
  if (!job.error().empty()) add("error:", job.error());
  add("model:", ModelLine(job.spec().model()));
  add("data:", DataLine(job.spec().data()));
  add("training:", TrainingLine(job.spec().training()));
  if (job.tags_size() > 0) add("tags:", absl::StrJoin(job.tags(), " "));
  absl::StrAppend(&out, FormatTable(header), "\n");
  // A note may hold several lines: each is indented under its heading, outside the table.
  if (!job.note().empty()) {
    absl::StrAppend(&out, "note:\n");
    for (absl::string_view line : absl::StrSplit(job.note(), '\n')) {
      absl::StrAppend(&out, "  ", line, "\n");
    }
    absl::StrAppend(&out, "\n");
  }

  std::vector<std::vector<std::string>> rows;
  rows.push_back({"RUN", "INIT", "STATE", "OUTCOME", "STEPS", "FINAL LOSS", "VAL LOSS", "VAL ACC",
                  "STEPS/S", "NON-FINITE", "FLATLINE"});
  const int32_t total = job.spec().training().steps();
  for (const v1::Run& run : job.runs()) {
    rows.push_back({
        absl::StrCat(run.id()),
        FormatRunInit(run.spec()),
        std::string(RunStateName(run.state())),
        run.outcome().empty() ? "-" : run.outcome(),
        total > 0 ? absl::StrCat(run.steps_done(), "/", total) : absl::StrCat(run.steps_done()),
        run.has_final_loss() ? FormatLoss(run.final_loss()) : "-",
        run.has_final_eval() ? FormatLoss(run.final_eval().loss()) : "-",
        run.has_final_eval() ? Accuracy(run.final_eval()) : "-",
        run.steps_per_second() > 0 ? absl::StrFormat("%.0f", run.steps_per_second()) : "-",
        OptionalStep(run.has_first_nonfinite_step(), run.first_nonfinite_step()),
        OptionalStep(run.has_flatline_step(), run.flatline_step()),
    });
  }
  absl::StrAppend(&out, FormatTable(rows, {0, 5, 6, 7, 8, 9, 10}));
  return out;
}

std::string FormatTrajectoryReport(const v1::GetTrajectoryResponse& trajectory, int rows) {
  const int n = std::min(trajectory.steps_size(), trajectory.losses_size());
  std::string out = absl::StrCat("run ", trajectory.run_id(), ": ", trajectory.steps_done(),
                                 trajectory.steps_done() == 1 ? " step" : " steps", " recorded\n");
  if (trajectory.has_first_nonfinite_step()) {
    absl::StrAppend(&out, "first non-finite loss at step ", trajectory.first_nonfinite_step(),
                    "\n");
  }
  if (n == 0) return out;

  int min_index = -1;
  for (int i = 0; i < n; ++i) {
    const float loss = trajectory.losses(i);
    if (std::isfinite(loss) && (min_index < 0 || loss < trajectory.losses(min_index))) {
      min_index = i;
    }
  }
  absl::StrAppend(&out, "loss: first ", FormatLoss(trajectory.losses(0)), " (step ",
                  trajectory.steps(0), ")");
  if (min_index >= 0) {
    absl::StrAppend(&out, ", lowest ", FormatLoss(trajectory.losses(min_index)), " (step ",
                    trajectory.steps(min_index), ")");
  }
  absl::StrAppend(&out, ", last ", FormatLoss(trajectory.losses(n - 1)), " (step ",
                  trajectory.steps(n - 1), ")\n\n");

  // Evenly spaced indices, plus the first non-finite step, each once, in order.
  std::vector<int> picks;
  const int wanted = rows <= 0 ? std::max(n, 2) : std::max(2, rows);
  for (int r = 0; r < wanted; ++r) {
    picks.push_back(static_cast<int>(static_cast<int64_t>(r) * (n - 1) / (wanted - 1)));
  }
  if (trajectory.has_first_nonfinite_step()) {
    for (int i = 0; i < n; ++i) {
      if (trajectory.steps(i) == trajectory.first_nonfinite_step()) picks.push_back(i);
    }
  }
  std::sort(picks.begin(), picks.end());
  picks.erase(std::unique(picks.begin(), picks.end()), picks.end());
  std::vector<std::vector<std::string>> table = {{"STEP", "LOSS"}};
  for (int i : picks) {
    table.push_back({absl::StrCat(trajectory.steps(i)), FormatLoss(trajectory.losses(i))});
  }
  absl::StrAppend(&out, FormatTable(table, {0, 1}));

  if (trajectory.evals_size() > 0) {
    std::vector<std::vector<std::string>> evals = {{"STEP", "VAL LOSS", "VAL ACC"}};
    const int m = trajectory.evals_size();
    const int shown = rows <= 0 ? m : std::min(m, wanted);
    int previous = -1;
    for (int r = 0; r < shown; ++r) {
      const int i =
          shown == 1 ? m - 1 : static_cast<int>(static_cast<int64_t>(r) * (m - 1) / (shown - 1));
      if (i == previous) continue;
      previous = i;
      const v1::EvalResult& eval = trajectory.evals(i);
      evals.push_back({absl::StrCat(eval.step()), FormatLoss(eval.loss()), Accuracy(eval)});
    }
    absl::StrAppend(&out, "\nvalidation (", m, m == 1 ? " evaluation" : " evaluations", "):\n",
                    FormatTable(evals, {0, 1, 2}));
  }
  return out;
}

std::string ToJson(const google::protobuf::Message& message) {
  // Every field, at its default too: a script reads steps_done 0 rather than a missing key.
  return ProtoToJson(message, {.pretty = true, .print_defaults = true});
}

}  // namespace ablate::client
