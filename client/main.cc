// `ablate`: the command line of Ablate. Everything but the terminal probing is in cli.cc.
#include <grpc/support/log.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/cli.h"

namespace {

// gRPC logs transport events (e.g. a server's GOAWAY) to stderr, where the CLI promises one
// clear line per error; the CLI reports what matters itself. GRPC_VERBOSITY brings them back.
void DiscardGrpcLog(gpr_log_func_args*) {}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(DiscardGrpcLog);
  ablate::client::CliEnvironment env;
  env.out = &std::cout;
  env.err = &std::cerr;
  const char* term = std::getenv("TERM");
  // A "dumb" terminal (e.g. an editor's shell) cannot move the cursor: append lines there.
  env.out_is_terminal =
      ::isatty(STDOUT_FILENO) == 1 && !(term != nullptr && std::strcmp(term, "dumb") == 0);
  winsize size{};
  if (env.out_is_terminal && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    env.terminal_width = size.ws_col;
  }
  env.time_zone = absl::LocalTimeZone();
  std::vector<std::string> args(argv, argv + argc);
  const int code = ablate::client::RunCli(args, env);
  // What a command printed is its result (a job's id, a trajectory as CSV): if standard output
  // could not take all of it (a full disk, /dev/full, a closed descriptor), say so and fail
  // rather than exit 0 over a truncated file. A write that failed earlier leaves the stream in
  // error and its buffer unwritten, so the flush fails again and errno says why.
  errno = 0;
  std::cout.flush();
  if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0 || !std::cout) {
    const int error = errno;
    std::cerr << "ablate: cannot write the output"
              << (error != 0 ? std::string(": ") + std::strerror(error) : std::string())
              << "; what was printed is incomplete" << std::endl;
    return code == 0 ? 1 : code;
  }
  return code;
}
