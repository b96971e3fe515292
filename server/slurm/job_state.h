// What Slurm says about a job: its state (squeue's %T, scontrol's JobState), and how it ended.
#ifndef ABLATE_SERVER_SLURM_JOB_STATE_H_
#define ABLATE_SERVER_SLURM_JOB_STATE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace ablate::slurm {

// A Slurm job id (Slurm's are 32-bit, from 1).
using JobId = int64_t;

// The base states of Slurm 22.05 (`man squeue`, JOB STATE CODES) that the driver tells apart.
enum class JobState {
  kPending,      // waiting for resources, a dependency, or held
  kConfiguring,  // allocated, nodes booting
  kRunning,
  kSuspended,
  kCompleting,  // ending: processes or epilog still on a node
  kCompleted,   // ended with exit code 0
  kCancelled,   // scancel (or an administrator)
  kFailed,      // non-zero exit code, or the launch failed (e.g. a bad working directory)
  kTimeout,     // reached its time limit
  kNodeFail,    // a node it ran on failed
  kPreempted,
  kBootFail,
  kDeadline,
  kOutOfMemory,
  kOther,  // a state this driver does not know (e.g. a later Slurm's): see the text
};

// The state for Slurm's name of it ("RUNNING", ...), kOther for any other text.
JobState ParseJobState(std::string_view text);
// Slurm's name of the state ("RUNNING", ...); "OTHER" for kOther.
std::string_view JobStateName(JobState state);
// True for states after which the job runs no more (COMPLETED, CANCELLED, FAILED, TIMEOUT, ...).
// kOther is not final: the caller keeps asking, and sees the text.
bool IsFinal(JobState state);

// A job's state as squeue or scontrol printed it.
struct JobStatus {
  JobState state = JobState::kOther;
  std::string text;  // Slurm's own word, e.g. "RUNNING"; kept for states this driver lacks
};

// Exit codes that the driver's batch script uses (the shell's conventions) when the program
// cannot be run on the node: its path does not exist there, or it is not an executable file.
inline constexpr int kExitProgramMissing = 127;
inline constexpr int kExitProgramNotExecutable = 126;

// How a job ended (or where it is, if it has not): from `scontrol show job`, or from the
// jobcomp file once scontrol has forgotten the job.
struct JobOutcome {
  JobId id = 0;
  JobStatus status;
  std::string reason;     // Slurm's Reason= (e.g. "NonZeroExitCode"); empty for "None"
  int exit_code = 0;      // the batch script's exit status (ExitCode=N:S, the N)
  int signal = 0;         // the signal that ended it (the S), 0 if none
  std::string node_list;  // where it ran, empty if nowhere
  std::string source;     // "scontrol" or "jobcomp"

  // One sentence for people, e.g. "Slurm job 12 failed on localhost: the program
  // /opt/ablate/bin/ablate-worker does not exist there (exit code 127)." `program` names the
  // program that was submitted; it may be empty.
  std::string Describe(std::string_view program = "") const;
};

}  // namespace ablate::slurm

#endif  // ABLATE_SERVER_SLURM_JOB_STATE_H_
