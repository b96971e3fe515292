#include "client/progress.h"

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/format.h"

namespace ablate::client {
namespace {

// Terminal redraws are capped at 10 per second: faster is invisible and costs the terminal.
constexpr absl::Duration kRedrawInterval = absl::Milliseconds(100);
// Log mode: at most one progress line per run per second.
constexpr absl::Duration kLogInterval = absl::Seconds(1);

std::string Pad(absl::string_view text, int width) {
  std::string padded(text);
  const int missing = width - static_cast<int>(DisplayWidth(text));
  if (missing > 0) padded.append(missing, ' ');
  return padded;
}

int Digits(int64_t value) { return static_cast<int>(absl::StrCat(value).size()); }

std::string Outcome(const v1::Run& run) {
  return run.outcome().empty() ? std::string(RunStateName(run.state())) : run.outcome();
}

bool Ended(v1::RunState state) {
  return state == v1::RUN_STATE_COMPLETED || state == v1::RUN_STATE_DIVERGED ||
         state == v1::RUN_STATE_CANCELLED || state == v1::RUN_STATE_FAILED;
}

}  // namespace

int InitLabelWidth(const std::vector<RunProgress>& runs) {
  int width = 0;
  for (const RunProgress& run : runs) {
    width = std::max(width, static_cast<int>(DisplayWidth(run.init)));
  }
  return width;
}

std::string FormatProgressLine(const RunProgress& run, int label_width, int max_width) {
  // The line's parts in display order, each with the rank at which it is dropped when the line
  // is too wide: the run id first, then the rate, the validation, the loss; the init, the step
  // count and the outcome always stay.
  struct Part {
    std::string text;
    int drop_rank;  // 0: never dropped; higher goes first
  };
  std::vector<Part> parts = {{Pad(run.init, label_width), 0},
                             {absl::StrCat("run ", run.run_id), 5}};
  const bool started = run.steps_seen > 0 || run.state != v1::RUN_STATE_QUEUED;
  if (!started) {
    parts.push_back({"queued", 0});
  } else {
    const int digits = std::max(Digits(run.total_steps), Digits(run.steps_seen));
    parts.push_back({absl::StrFormat("step %*d/%d", digits, run.steps_seen, run.total_steps), 0});
    if (run.last_loss.has_value()) {
      parts.push_back({absl::StrCat("loss ", Pad(FormatLoss(*run.last_loss), 9)), 2});
    }
    if (std::optional<double> rate = run.StepsPerSecond(); rate.has_value()) {
      parts.push_back({absl::StrFormat("%6.0f steps/s", *rate), 4});
    }
    if (run.last_eval.has_value()) {
      const std::string accuracy =
          run.last_eval->has_accuracy()
              ? absl::StrFormat("%5.1f%%", 100.0 * run.last_eval->accuracy())
              : std::string("  n/a");  // a non-finite loss measured none
      parts.push_back(
          {absl::StrFormat("val %s %s", Pad(FormatLoss(run.last_eval->loss()), 9), accuracy), 3});
    }
    if (run.summary.has_value()) {
      parts.push_back({Outcome(*run.summary), 0});
    } else if (Ended(run.state)) {
      parts.push_back({std::string(RunStateName(run.state)), 0});
    }
  }
  auto join = [&parts] {
    std::string line;
    for (const Part& part : parts) absl::StrAppend(&line, line.empty() ? "" : "  ", part.text);
    // Trailing spaces from padding would only confuse logs and tests.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line;
  };
  std::string line = join();
  while (max_width > 0 && static_cast<int>(DisplayWidth(line)) > max_width) {
    auto victim = std::max_element(parts.begin(), parts.end(), [](const Part& a, const Part& b) {
      return a.drop_rank < b.drop_rank;
    });
    if (victim->drop_rank == 0) break;  // only what always stays is left
    parts.erase(victim);
    line = join();
  }
  return line;
}

std::string FormatJobResult(const v1::Job& job) {
  std::string line = absl::StrCat("job ", job.id());
  if (!job.name().empty()) absl::StrAppend(&line, " (", job.name(), ")");
  absl::StrAppend(&line, " ", JobStateName(job.state()));
  if (!job.error().empty()) absl::StrAppend(&line, ": ", job.error());
  return line;
}

std::string FormatJobSummary(const v1::Job& job) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Run& run : job.runs()) {
    std::vector<std::string> row = {
        absl::StrCat("  ", run.spec().init()), absl::StrCat("run ", run.id()), Outcome(run),
        absl::StrCat("final loss ", run.has_final_loss() ? FormatLoss(run.final_loss()) : "-")};
    if (run.has_final_eval()) {
      row.push_back(absl::StrCat("val loss ", FormatLoss(run.final_eval().loss())));
      row.push_back(run.final_eval().has_accuracy()
                        ? absl::StrFormat("val acc %.1f%%", 100.0 * run.final_eval().accuracy())
                        : std::string("val acc n/a"));
    }
    rows.push_back(std::move(row));
  }
  return absl::StrCat(FormatJobResult(job), "\n", FormatTable(rows));
}

ProgressDisplay::ProgressDisplay(std::ostream& out, Mode mode, int width)
    : out_(out), mode_(mode), width_(std::max(width, 20)) {}

std::string ProgressDisplay::HeaderLine(const WatchState& state) const {
  std::string line = absl::StrCat("job ", state.job_id());
  if (!state.job_name().empty()) absl::StrAppend(&line, " (", state.job_name(), ")");
  absl::StrAppend(&line, ": ", JobStateName(state.job_state()));
  if (!notice_.empty()) absl::StrAppend(&line, " - ", notice_);
  return line;
}

void ProgressDisplay::Redraw(const WatchState& state) {
  std::vector<std::string> lines = {HeaderLine(state)};
  for (const RunProgress& run : state.runs()) {
    // Parts are dropped to fit the terminal (the cut below is a last resort).
    lines.push_back(FormatProgressLine(run, label_width_, width_ - 1));
  }
  std::string frame;
  // Back to the first line of the live region; every line is then cleared and rewritten.
  if (lines_drawn_ > 0) absl::StrAppend(&frame, "\x1b[", lines_drawn_, "A");
  for (const std::string& line : lines) {
    // One column is kept free: writing the last column makes some terminals wrap.
    absl::StrAppend(&frame, "\r\x1b[2K", Truncate(line, width_ - 1), "\n");
  }
  out_ << frame << std::flush;
  lines_drawn_ = static_cast<int>(lines.size());
}

void ProgressDisplay::LogChanges(const WatchState& state, absl::Time now, bool force) {
  for (const RunProgress& run : state.runs()) {
    LoggedRun& logged = logged_[run.run_id];
    const bool state_changed = run.state != logged.state_at_last_line;
    const bool steps_changed = run.steps_seen != logged.steps_at_last_line;
    const bool due = now - logged.last_line >= kLogInterval;
    if (run.state == v1::RUN_STATE_QUEUED && run.steps_seen == 0) continue;  // nothing yet
    if (state_changed || (steps_changed && (due || force))) {
      out_ << FormatProgressLine(run, label_width_) << "\n";
      logged.last_line = now;
      logged.steps_at_last_line = run.steps_seen;
      logged.state_at_last_line = run.state;
    }
  }
  out_ << std::flush;
}

void ProgressDisplay::Begin(const WatchState& state, absl::Time now) {
  label_width_ = InitLabelWidth(state.runs());
  if (mode_ == Mode::kTerminal) {
    Redraw(state);
    last_redraw_ = now;
    return;
  }
  std::vector<std::string> inits;
  for (const RunProgress& run : state.runs()) inits.push_back(run.init);
  const int32_t steps = state.runs().empty() ? 0 : state.runs().front().total_steps;
  out_ << "watching job " << state.job_id();
  if (!state.job_name().empty()) out_ << " (" << state.job_name() << ")";
  out_ << ": " << inits.size() << (inits.size() == 1 ? " run" : " runs") << " ("
       << absl::StrJoin(inits, ", ") << "), " << steps << " steps each" << std::endl;
}

void ProgressDisplay::Update(const WatchState& state, absl::Time now) {
  if (mode_ == Mode::kLog) {
    LogChanges(state, now, /*force=*/false);
    return;
  }
  if (now - last_redraw_ < kRedrawInterval) return;
  Redraw(state);
  last_redraw_ = now;
}

void ProgressDisplay::Notice(const WatchState& state, const std::string& notice, absl::Time now) {
  notice_ = notice;
  if (mode_ == Mode::kLog) {
    if (!notice.empty()) out_ << notice << std::endl;
    return;
  }
  Redraw(state);
  last_redraw_ = now;
}

void ProgressDisplay::Queued(const WatchState& state, int runs_ahead, absl::Time now) {
  if (queued_shown_ == runs_ahead) return;
  if (mode_ == Mode::kLog && queued_shown_.has_value() && runs_ahead > 0 &&
      now - queued_shown_at_ < kQueueLogInterval) {
    return;
  }
  queued_shown_ = runs_ahead;
  queued_shown_at_ = now;
  Notice(state,
         runs_ahead == 0   ? std::string("waiting for a worker: this job's runs start next")
         : runs_ahead == 1 ? std::string("waiting for a worker: 1 run of the queue starts before "
                                         "this job's")
                           : absl::StrCat("waiting for a worker: ", runs_ahead,
                                          " runs of the queue start before this job's"),
         now);
}

void ProgressDisplay::Finish(const WatchState& state, absl::Time now) {
  notice_.clear();
  if (mode_ == Mode::kLog) {
    LogChanges(state, now, /*force=*/true);
  } else {
    Redraw(state);
  }
  if (print_summary_) out_ << FormatJobSummary(state.final_job());
  out_ << std::flush;
}

void ProgressDisplay::Abandon(const WatchState& state, absl::Time now) {
  notice_.clear();
  if (mode_ == Mode::kLog) {
    LogChanges(state, now, /*force=*/true);
  } else {
    Redraw(state);
  }
}

}  // namespace ablate::client
