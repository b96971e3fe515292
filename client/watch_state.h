// What `ablate watch` knows about a job, rebuilt from the WatchJob stream.
//
// WatchState applies JobUpdates in stream order and checks the stream's promise: every step of
// every run arrives exactly once and in order, across the stream and its resumptions. A gap or
// a repeat is reported as a server bug rather than drawn as a wrong curve. It also keeps the
// cursor of the last update applied, from which a broken stream resumes.
//
// Not thread-safe; one watcher owns it.
#ifndef ABLATE_CLIENT_WATCH_STATE_H_
#define ABLATE_CLIENT_WATCH_STATE_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"

namespace ablate::client {

// One run's progress as seen on the stream.
struct RunProgress {
  int64_t run_id = 0;
  int32_t index = 0;  // position in the job's spec.runs
  std::string init;   // the run's init scheme, e.g. "kaiming"
  int32_t total_steps = 0;
  v1::RunState state = v1::RUN_STATE_QUEUED;
  // Steps received so far, which is also the step expected next (steps are 0-based).
  int32_t steps_seen = 0;
  std::optional<float> last_loss;
  std::optional<v1::EvalResult> last_eval;
  // Wall time of the most recent steps (at most kRateWindow of them), for steps/s.
  std::deque<float> recent_step_seconds;
  double recent_seconds_sum = 0;
  // Set once the run has finished: its final state and summary.
  std::optional<v1::Run> summary;

  static constexpr int kRateWindow = 50;

  // Steps per second over the recent window, or the run's own figure once it has finished;
  // nullopt before any timed step.
  std::optional<double> StepsPerSecond() const;
};

class WatchState {
 public:
  // Starts from the job as GetJob returned it: its runs (ids, inits, states) and step count.
  // The runs' step counters start at zero, because the stream starts at cursor 0 and replays
  // everything already recorded.
  explicit WatchState(const v1::Job& job);

  // Applies one update in the proto's order (runs_restarted, runs_started, steps, evals,
  // runs_finished, job_finished) and moves the cursor to update.cursor. A restarted run's
  // steps and evaluations so far are dropped (the server set them aside), and the reason
  // becomes a notice (TakeNotices).
  // Returns Internal, naming the run and the steps, when the update breaks the stream's
  // promise (a skipped or repeated step, a run not in the job, steps after a run finished, a
  // finished run whose steps_done differs from the steps received); the state is then not to
  // be used further.
  absl::Status Apply(const v1::JobUpdate& update);

  // The cursor to resume from: that of the last update applied, 0 before any.
  uint64_t cursor() const { return cursor_; }
  // True once an update carried job_finished.
  bool finished() const { return final_job_.has_value(); }
  // The job as job_finished reported it. Requires: finished().
  const v1::Job& final_job() const { return *final_job_; }

  int64_t job_id() const { return job_id_; }
  const std::string& job_name() const { return job_name_; }
  v1::JobState job_state() const { return job_state_; }
  const std::vector<RunProgress>& runs() const { return runs_; }
  // Sentences for the person watching that updates brought (a run started over, and why),
  // oldest first; each is returned once.
  std::vector<std::string> TakeNotices() { return std::exchange(notices_, {}); }

 private:
  RunProgress* FindRun(int64_t run_id);
  absl::Status ApplySteps(const v1::StepLosses& steps);

  int64_t job_id_ = 0;
  std::string job_name_;
  v1::JobState job_state_ = v1::JOB_STATE_UNSPECIFIED;
  uint64_t cursor_ = 0;
  std::vector<RunProgress> runs_;  // in spec order
  std::optional<v1::Job> final_job_;
  std::vector<std::string> notices_;
};

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_WATCH_STATE_H_
