// RunCommand: arguments as given, only the given environment, inputs on their descriptors,
// nothing else inherited, and every way of not finishing turned into a status.
#include "server/slurm/subprocess.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/support/temp_dir.h"

namespace ablate::slurm {
namespace {

using test_support::ReadFile;
using test_support::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The lines of the probe's report that start with `key`=, without the key.
std::vector<std::string> Report(const std::string& text, const std::string& key) {
  std::vector<std::string> values;
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (const std::string& line : lines) {
    if (line.rfind(key + "=", 0) == 0) values.push_back(line.substr(key.size() + 1));
  }
  return values;
}

TEST(RunCommand, PassesArgumentsVerbatimAndOnlyTheGivenEnvironment) {
  TempDir dir("slurm_subprocess");
  Command command;
  command.program = ABLATE_SLURM_PROBE;
  command.args = {dir.File("report"), "0", "0", "two words", "$HOME", "'q'\"", "a;b|c", ""};
  command.env = {"ONLY=this", "EMPTY="};
  absl::StatusOr<CommandResult> result = RunCommand(command);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  const std::string report = ReadFile(dir.File("report"));
  EXPECT_THAT(Report(report, "arg"), ElementsAre("slurm_probe", dir.File("report"), "0", "0",
                                                 "two words", "$HOME", "'q'\"", "a;b|c", ""));
  EXPECT_THAT(Report(report, "env"), ElementsAre("ONLY=this", "EMPTY="));
}

TEST(RunCommand, FeedsInputsAndLeaksNoOtherDescriptor) {
  TempDir dir("slurm_subprocess");
  // A descriptor of this process without close-on-exec, as a careless library might leave.
  int leaky = open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 0);
  Command command;
  command.program = ABLATE_SLURM_PROBE;
  command.args = {dir.File("report")};
  command.inputs = {{0, "to stdin"}, {3, "to fd 3"}};
  absl::StatusOr<CommandResult> result = RunCommand(command);
  close(leaky);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(Report(ReadFile(dir.File("report")), "fd"), ElementsAre("0", "1", "2", "3"));
}

TEST(RunCommand, TheChildReadsEachInputWhole) {
  // /bin/cat copies its stdin; a megabyte would block a pipe written before the child ran.
  Command command;
  command.program = "/bin/cat";
  command.inputs = {{0, std::string(1 << 20, 'x') + "end"}};
  absl::StatusOr<CommandResult> result = RunCommand(command);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->out.size(), (1u << 20) + 3);
  command.args = {"/dev/fd/3"};
  command.inputs = {{3, "three"}};
  result = RunCommand(command);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->out, "three");
}

TEST(RunCommand, CapturesStderrAndTheExitCode) {
  Command command;
  command.program = "/bin/ls";
  command.args = {"/nonexistent-dir-for-the-test"};
  absl::StatusOr<CommandResult> result = RunCommand(command);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NE(result->exit_code, 0);
  EXPECT_EQ(result->signal, 0);
  EXPECT_THAT(result->err, HasSubstr("nonexistent-dir-for-the-test"));
}

TEST(RunCommand, KillsAChildThatOutlivesItsTimeout) {
  TempDir dir("slurm_subprocess");
  Command command;
  command.program = ABLATE_SLURM_PROBE;
  command.args = {dir.File("report"), "20000"};
  command.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<CommandResult> result = RunCommand(command);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.status().message(), HasSubstr("slurm_probe did not finish within 300ms"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // killed, not waited for
}

TEST(RunCommand, KillsAChildThatPrintsTooMuch) {
  Command command;
  command.program = "/bin/cat";
  command.inputs = {{0, std::string(100000, 'x')}};
  command.max_output_bytes = 4096;
  absl::StatusOr<CommandResult> result = RunCommand(command);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(result.status().message(), HasSubstr("more than 4096 bytes on stdout"));
}

TEST(RunCommand, SaysWhenTheProgramCannotStart) {
  Command command;
  command.program = "/nonexistent/sbatch";
  absl::StatusOr<CommandResult> result = RunCommand(command);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(),
              HasSubstr("cannot start /nonexistent/sbatch: No such file or directory"));
}

TEST(RunCommand, RefusesABadCommand) {
  Command command;
  command.program = "sbatch";  // not absolute: no PATH search
  EXPECT_EQ(RunCommand(command).status().code(), absl::StatusCode::kInvalidArgument);
  command.program = "/bin/true";
  command.inputs = {{1, "x"}};
  EXPECT_EQ(RunCommand(command).status().code(), absl::StatusCode::kInvalidArgument);
  command.inputs = {{3, "x"}, {3, "y"}};
  EXPECT_EQ(RunCommand(command).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ablate::slurm
