#include "server/slurm/job_state.h"

#include <string.h>  // sigabbrev_np

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ablate::slurm {
namespace {

constexpr std::array<std::pair<JobState, std::string_view>, 14> kNames = {{
    {JobState::kPending, "PENDING"},
    {JobState::kConfiguring, "CONFIGURING"},
    {JobState::kRunning, "RUNNING"},
    {JobState::kSuspended, "SUSPENDED"},
    {JobState::kCompleting, "COMPLETING"},
    {JobState::kCompleted, "COMPLETED"},
    {JobState::kCancelled, "CANCELLED"},
    {JobState::kFailed, "FAILED"},
    {JobState::kTimeout, "TIMEOUT"},
    {JobState::kNodeFail, "NODE_FAIL"},
    {JobState::kPreempted, "PREEMPTED"},
    {JobState::kBootFail, "BOOT_FAIL"},
    {JobState::kDeadline, "DEADLINE"},
    {JobState::kOutOfMemory, "OUT_OF_MEMORY"},
}};

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev ? absl::StrCat("SIG", abbrev) : absl::StrCat("signal ", signal);
}

}  // namespace

JobState ParseJobState(std::string_view text) {
  // scontrol may add flags after a '+' in some states (e.g. "CANCELLED+"); the base is before.
  text = text.substr(0, text.find('+'));
  for (const auto& [state, name] : kNames) {
    if (text == name) return state;
  }
  return JobState::kOther;
}

std::string_view JobStateName(JobState state) {
  for (const auto& [s, name] : kNames) {
    if (s == state) return name;
  }
  return "OTHER";
}

bool IsFinal(JobState state) {
  switch (state) {
    case JobState::kCompleted:
    case JobState::kCancelled:
    case JobState::kFailed:
    case JobState::kTimeout:
    case JobState::kNodeFail:
    case JobState::kPreempted:
    case JobState::kBootFail:
    case JobState::kDeadline:
    case JobState::kOutOfMemory:
      return true;
    default:
      return false;
  }
}

std::string JobOutcome::Describe(std::string_view program) const {
  const std::string job = absl::StrCat("Slurm job ", id);
  const std::string on = node_list.empty() ? "" : absl::StrCat(" on ", node_list);
  const std::string the_program =
      program.empty()
          ? "its program"
          : absl::StrCat("the program ", absl::string_view(program.data(), program.size()));
  const std::string why =
      reason.empty() || reason == "NonZeroExitCode" ? "" : absl::StrCat(" (", reason, ")");
  switch (status.state) {
    case JobState::kCompleted:
      return absl::StrCat(job, " completed", on, " with exit code ", exit_code, ".");
    case JobState::kFailed:
      if (signal == 0 && exit_code == kExitProgramMissing) {
        return absl::StrCat(job, " failed", on, ": ", the_program,
                            " does not exist there (exit code ", exit_code, ").");
      }
      if (signal == 0 && exit_code == kExitProgramNotExecutable) {
        return absl::StrCat(job, " failed", on, ": ", the_program,
                            " is not an executable file there (exit code ", exit_code, ").");
      }
      if (signal != 0) {
        return absl::StrCat(job, " failed", on, ": it was killed by ", SignalName(signal), why,
                            ".");
      }
      return absl::StrCat(job, " failed", on, " with exit code ", exit_code, why, ".");
    case JobState::kCancelled:
      return absl::StrCat(job, " was cancelled", on.empty() ? " before it started" : on, ".");
    case JobState::kTimeout:
      return absl::StrCat(job, " reached its time limit", on, " and was stopped.");
    case JobState::kNodeFail:
      return absl::StrCat(job, " ended because a node it ran on (", node_list, ") failed.");
    case JobState::kOutOfMemory:
      return absl::StrCat(job, " ran out of memory", on, " and was stopped.");
    case JobState::kPreempted:
      return absl::StrCat(job, " was preempted", on, ".");
    case JobState::kBootFail:
      return absl::StrCat(job, " ended because its node failed to boot", why, ".");
    case JobState::kDeadline:
      return absl::StrCat(job, " reached its deadline", on, " and was stopped.");
    case JobState::kPending:
      return absl::StrCat(job, " is waiting to start", why, ".");
    default:
      return absl::StrCat(job, " is ", status.text.empty() ? "in an unknown state" : status.text,
                          on, why, ".");
  }
}

}  // namespace ablate::slurm
