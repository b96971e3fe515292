// Runs one program to completion without a shell: an argument vector, an explicit environment,
// bytes handed to it on chosen descriptors, its output captured, and a deadline.
#ifndef ABLATE_SERVER_SLURM_SUBPROCESS_H_
#define ABLATE_SERVER_SLURM_SUBPROCESS_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ablate::slurm {

struct Command {
  // Absolute path of the program; argv[0] is its base name.
  std::string program;
  // argv[1..]: each one argument, passed as is (no quoting, no word splitting).
  std::vector<std::string> args;
  // The child's whole environment, "NAME=value" each; nothing is inherited.
  std::vector<std::string> env;
  // Data the child reads on descriptor `fd` (0, or 3..9) from the start to its end, as from a
  // file. Held in an anonymous in-memory file (memfd) that only this process and the child can
  // open, so it appears on no command line and in no environment. Descriptor 0 is /dev/null
  // when not given here; 1 and 2 are always the captured output.
  std::vector<std::pair<int, std::string>> inputs;
  // The child is killed (SIGKILL, with its process group) when it runs longer than this.
  absl::Duration timeout = absl::Seconds(30);
  // Bytes kept of each of stdout and stderr; more is an error and the child is killed.
  size_t max_output_bytes = 16 << 20;
};

struct CommandResult {
  int exit_code = -1;  // the exit status when it exited, else -1
  int signal = 0;      // the signal that ended it, else 0
  std::string out;     // all it wrote to stdout
  std::string err;     // all it wrote to stderr
};

// Starts `command` (posix_spawn: no shell, no PATH search, descriptors other than 0-2 and the
// inputs closed, signal dispositions reset, in a process group of its own), feeds the inputs,
// collects its output and waits for it. Returns the result whatever the exit status; an error
// only when it could not be run to the end: InvalidArgument (a bad Command), FailedPrecondition
// (the program cannot be started, e.g. missing), DeadlineExceeded (killed at the timeout),
// ResourceExhausted (killed for output over the limit), Internal (a system call failed).
// Thread-safe: every call has its own child and descriptors. Requires that nothing else in the
// process reaps children it did not start (SIGCHLD not ignored, no waitpid(-1)).
absl::StatusOr<CommandResult> RunCommand(const Command& command);

}  // namespace ablate::slurm

#endif  // ABLATE_SERVER_SLURM_SUBPROCESS_H_
