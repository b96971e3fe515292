// The live display of `ablate watch`: one line per run.
//
// On a terminal the lines are redrawn in place (ANSI cursor movement, at most ten times a
// second); anywhere else (a pipe, a log file, CI) lines are appended instead, at most one per
// run per second plus one whenever a run starts or finishes, so logs stay readable. Either way
// the display ends with the same plain summary: each run's outcome and final loss, then the
// job's final state.
#ifndef ABLATE_CLIENT_PROGRESS_H_
#define ABLATE_CLIENT_PROGRESS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/time/time.h"
#include "client/watch_state.h"

namespace ablate::client {

// Pads init names to this many characters so the columns line up.
int InitLabelWidth(const std::vector<RunProgress>& runs);

// One run's live line, e.g.
//   "kaiming  run 44  step  512/1000  loss 0.1234  843 steps/s  val 0.1302 96.5%"
//   "uniform  run 42  step   21/1000  loss nan  812 steps/s  diverged at step 20"
//   "xavier   run 43  queued"
// A line wider than `max_width` columns (0: no limit) loses, in this order, the run id, the
// steps/s, the validation and the loss, until it fits: an 80-column terminal or log keeps
// the step count and the outcome of any job, however long (100,000 steps, 16-character inits).
inline constexpr int kProgressLineWidth = 79;
std::string FormatProgressLine(const RunProgress& run, int label_width,
                               int max_width = kProgressLineWidth);

// "job 17 (lab-01-init-ablation) succeeded", plus ": <error>" for a failed job.
std::string FormatJobResult(const v1::Job& job);

// The summary printed when a watched job ends: the FormatJobResult line, then one aligned
// line per run, indented by two spaces:
//   "  uniform  run 42  diverged at step 20  final loss nan"
//   "  kaiming  run 44  completed            final loss 0.01234  val loss 0.0302  val acc 99.0%"
std::string FormatJobSummary(const v1::Job& job);

class ProgressDisplay {
 public:
  enum class Mode {
    kTerminal,  // redraw in place
    kLog,       // append lines
  };

  // Writes to `out`, which must outlive the display. `width` is the terminal's width in
  // columns; terminal lines are cut to it so that redrawing never wraps (ignored in kLog).
  ProgressDisplay(std::ostream& out, Mode mode, int width = 80);

  // Shows the job's runs for the first time.
  void Begin(const WatchState& state, absl::Time now);
  // Shows new progress; throttled, so it may be called after every update.
  void Update(const WatchState& state, absl::Time now);
  // A connection notice ("connection lost; reconnecting..."): kept in the terminal's header
  // line until the next notice, or appended as its own line in kLog. Empty clears it.
  void Notice(const WatchState& state, const std::string& notice, absl::Time now);
  // Where the job waits for a worker (Job.runs_ahead), as a notice: every change in a
  // terminal; in kLog a line when the count changed and kQueueLogInterval has passed since the
  // last such line, or when the job is next.
  void Queued(const WatchState& state, int runs_ahead, absl::Time now);
  static constexpr absl::Duration kQueueLogInterval = absl::Seconds(10);
  // Whether Finish prints the summary (default true); `lab` prints its own at the very end.
  void set_print_summary(bool print_summary) { print_summary_ = print_summary; }

  // Shows the final state of every run, then the summary. Requires: state.finished().
  void Finish(const WatchState& state, absl::Time now);
  // Leaves the display cleanly without a summary (the watch failed); the caller prints why.
  void Abandon(const WatchState& state, absl::Time now);

 private:
  struct LoggedRun {
    absl::Time last_line = absl::InfinitePast();
    int32_t steps_at_last_line = -1;
    v1::RunState state_at_last_line = v1::RUN_STATE_UNSPECIFIED;
  };

  std::string HeaderLine(const WatchState& state) const;
  void Redraw(const WatchState& state);
  void LogChanges(const WatchState& state, absl::Time now, bool force);

  std::ostream& out_;
  Mode mode_;
  int width_;
  int label_width_ = 0;
  bool print_summary_ = true;
  std::string notice_;
  std::optional<int> queued_shown_;                       // the runs_ahead last shown
  absl::Time queued_shown_at_ = absl::InfinitePast();     // when
  int lines_drawn_ = 0;  // terminal: lines of the live region currently on screen
  absl::Time last_redraw_ = absl::InfinitePast();
  std::unordered_map<int64_t, LoggedRun> logged_;  // log: by run id
};

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_PROGRESS_H_
