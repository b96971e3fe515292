// The `ablate` command line: parses argv, runs one subcommand against the server, and turns
// the outcome into output and an exit code. main.cc is a thin shell around RunCli so the whole
// surface (flags, help, error lines, exit codes) is testable in-process.
//
// Output contract:
// - stdout carries results (an id, a table, JSON, CSV, paths written, the watch display).
// - Every failure is one line on stderr, "ablate: <what went wrong>".
// - Exit codes are the kExit* constants below.
#ifndef ABLATE_CLIENT_CLI_H_
#define ABLATE_CLIENT_CLI_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace ablate::client {

// Success (for watch, submit --watch and lab: the job succeeded).
inline constexpr int kExitOk = 0;
// The request failed: server unreachable or refusing (not for a bad value), server bug
// detected, local I/O failed.
inline constexpr int kExitError = 1;
// A value is wrong: the command line or a --spec file (nothing was sent to the server), or a
// value the server refused with INVALID_ARGUMENT (its sentence names the field and range).
inline constexpr int kExitUsage = 2;
// The watched job ended failed or cancelled (watch, submit --watch, lab).
inline constexpr int kExitJobFailed = 3;

// Where RunCli writes, and what it knows about the terminal.
struct CliEnvironment {
  std::ostream* out = nullptr;  // results
  std::ostream* err = nullptr;  // error lines
  // When stdout is a terminal, watch redraws its lines in place; otherwise it appends them.
  bool out_is_terminal = false;
  int terminal_width = 80;
  // For printing times and reading --since/--until without an offset.
  absl::TimeZone time_zone = absl::UTCTimeZone();
};

// Runs `ablate` with `args` (args[0] is the program name) and returns the exit code.
// Reads ABLATE_SERVER and USER from the process environment.
int RunCli(const std::vector<std::string>& args, const CliEnvironment& env);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_CLI_H_
