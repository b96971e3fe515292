#include "client/watch_state.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ablate::client {
namespace {

constexpr char kServerBug[] = " (a server bug: please report it)";

absl::Status StreamError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, kServerBug));
}

// "step 7" or "steps 7-9".
std::string StepRange(int32_t first, size_t count) {
  if (count <= 1) return absl::StrCat("step ", first);
  return absl::StrCat("steps ", first, "-", first + static_cast<int64_t>(count) - 1);
}

}  // namespace

std::optional<double> RunProgress::StepsPerSecond() const {
  if (summary.has_value() && summary->steps_per_second() > 0) {
    return summary->steps_per_second();
  }
  if (recent_step_seconds.empty() || recent_seconds_sum <= 0) return std::nullopt;
  return static_cast<double>(recent_step_seconds.size()) / recent_seconds_sum;
}

WatchState::WatchState(const v1::Job& job)
    : job_id_(job.id()), job_name_(job.name()), job_state_(job.state()) {
  const int32_t total_steps = job.spec().training().steps();
  runs_.reserve(job.runs_size());
  for (const v1::Run& run : job.runs()) {
    RunProgress progress;
    progress.run_id = run.id();
    progress.index = run.index();
    progress.init = run.spec().init();
    progress.total_steps = total_steps;
    // The stream replays every run's history from cursor 0, so only the identity is kept
    // here; the state is what the stream says it is.
    runs_.push_back(std::move(progress));
  }
}

RunProgress* WatchState::FindRun(int64_t run_id) {
  for (RunProgress& run : runs_) {
    if (run.run_id == run_id) return &run;
  }
  return nullptr;
}

absl::Status WatchState::ApplySteps(const v1::StepLosses& steps) {
  RunProgress* run = FindRun(steps.run_id());
  if (run == nullptr) {
    return StreamError(absl::StrCat("the stream sent steps of run ", steps.run_id(),
                                    ", which is not a run of job ", job_id_));
  }
  if (steps.losses_size() == 0) return absl::OkStatus();
  const std::string received = StepRange(steps.first_step(), steps.losses_size());
  if (run->summary.has_value()) {
    return StreamError(absl::StrCat("the stream sent ", received, " of run ", run->run_id,
                                    " after the run had finished"));
  }
  if (steps.first_step() > run->steps_seen) {
    return StreamError(absl::StrCat(
        "the stream skipped ", StepRange(run->steps_seen, steps.first_step() - run->steps_seen),
        " of run ", run->run_id, ": it sent ", received, " when step ", run->steps_seen,
        " was due"));
  }
  if (steps.first_step() < run->steps_seen) {
    return StreamError(absl::StrCat("the stream repeated steps of run ", run->run_id, ": it sent ",
                                    received, " when step ", run->steps_seen, " was due"));
  }
  run->steps_seen += steps.losses_size();
  run->last_loss = steps.losses(steps.losses_size() - 1);
  if (run->state == v1::RUN_STATE_QUEUED || run->state == v1::RUN_STATE_UNSPECIFIED) {
    run->state = v1::RUN_STATE_RUNNING;
  }
  for (float seconds : steps.seconds()) {
    run->recent_step_seconds.push_back(seconds);
    run->recent_seconds_sum += seconds;
    if (run->recent_step_seconds.size() > RunProgress::kRateWindow) {
      run->recent_seconds_sum -= run->recent_step_seconds.front();
      run->recent_step_seconds.pop_front();
    }
  }
  return absl::OkStatus();
}

absl::Status WatchState::Apply(const v1::JobUpdate& update) {
  for (const v1::RunRestarted& restarted : update.runs_restarted()) {
    RunProgress* run = FindRun(restarted.run_id());
    if (run == nullptr) {
      return StreamError(absl::StrCat("the stream restarted run ", restarted.run_id(),
                                      ", which is not a run of job ", job_id_));
    }
    // What the server set aside is no longer the run's trajectory: its steps come again from 0.
    run->steps_seen = 0;
    run->last_loss.reset();
    run->last_eval.reset();
    run->recent_step_seconds.clear();
    run->recent_seconds_sum = 0;
    notices_.push_back(restarted.reason());
  }
  for (const v1::RunStarted& started : update.runs_started()) {
    RunProgress* run = FindRun(started.run_id());
    if (run == nullptr) {
      return StreamError(absl::StrCat("the stream started run ", started.run_id(),
                                      ", which is not a run of job ", job_id_));
    }
    if (!run->summary.has_value()) run->state = v1::RUN_STATE_RUNNING;
    job_state_ = v1::JOB_STATE_RUNNING;
  }
  for (const v1::StepLosses& steps : update.steps()) {
    if (absl::Status status = ApplySteps(steps); !status.ok()) return status;
  }
  for (const v1::EvalResult& eval : update.evals()) {
    RunProgress* run = FindRun(eval.run_id());
    if (run == nullptr) {
      return StreamError(absl::StrCat("the stream sent an evaluation of run ", eval.run_id(),
                                      ", which is not a run of job ", job_id_));
    }
    run->last_eval = eval;
  }
  for (const v1::RunFinished& finished : update.runs_finished()) {
    RunProgress* run = FindRun(finished.run().id());
    if (run == nullptr) {
      return StreamError(absl::StrCat("the stream finished run ", finished.run().id(),
                                      ", which is not a run of job ", job_id_));
    }
    if (finished.run().steps_done() != run->steps_seen) {
      return StreamError(
          absl::StrCat("run ", run->run_id, " finished with ", finished.run().steps_done(),
                       " steps recorded, but the stream delivered ", run->steps_seen));
    }
    run->state = finished.run().state();
    run->summary = finished.run();
  }
  if (update.has_job_finished()) {
    final_job_ = update.job_finished().job();
    job_state_ = final_job_->state();
    // The final job carries every run's summary; take them for runs whose RunFinished never
    // came (e.g. runs cancelled before they started).
    for (const v1::Run& run : final_job_->runs()) {
      RunProgress* progress = FindRun(run.id());
      if (progress != nullptr && !progress->summary.has_value()) {
        progress->state = run.state();
        progress->summary = run;
      }
    }
  }
  cursor_ = update.cursor();
  return absl::OkStatus();
}

}  // namespace ablate::client
