// SlurmClient without a cluster: requests it refuses, and stand-in Slurm commands
// (slurm_tool_double) that print what Slurm prints, to check how each answer becomes a result
// or a status with one sentence.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/slurm/slurm_client.h"
#include "server/slurm/subprocess.h"
#include "tests/support/temp_dir.h"

namespace ablate::slurm {
namespace {

using test_support::ReadFile;
using test_support::TempDir;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::string Fixture(const std::string& name) {
  return ReadFile(std::string(ABLATE_SLURM_TESTDATA) + "/" + name);
}

// A bin_dir of stand-ins for the four commands, told what to do through the file that
// SLURM_CONF names.
class FakeSlurm : public ::testing::Test {
 protected:
  FakeSlurm() : dir_("slurm_fake") {
    std::filesystem::create_directory(dir_.path() / "bin");
    for (const char* tool : {"sbatch", "squeue", "scontrol", "scancel"}) {
      std::filesystem::create_symlink(ABLATE_SLURM_TOOL_DOUBLE, dir_.path() / "bin" / tool);
    }
    Behave("exit=0");
  }

  // The commands' behaviour: lines "exit=N", "sleep_ms=N", "out=TEXT", "err=TEXT".
  void Behave(const std::string& lines) {
    std::ofstream(dir_.File("fake.conf")) << "# fake\n" << lines << "\n";
  }

  std::unique_ptr<SlurmClient> Client(SlurmOptions options = {}) {
    options.bin_dir = dir_.File("bin");
    options.slurm_conf = dir_.File("fake.conf");
    absl::StatusOr<std::unique_ptr<SlurmClient>> client = SlurmClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  static SubmitRequest Request() {
    SubmitRequest r;
    r.program = "/opt/ablate/bin/ablate-worker";
    r.args = {"--run", "7"};
    r.job_name = "ablate-run-7";
    r.working_dir = "/tmp";
    r.stdout_path = "/tmp/run-7.out";
    r.stderr_path = "/tmp/run-7.err";
    r.environment = {{"ABLATE_RUN_SECRET", "s3cret"}};
    return r;
  }

  TempDir dir_;
};

// Slurm's own text in a fake's out=/err= line.
std::string Escaped(const std::string& text) { return absl::StrReplaceAll(text, {{"\n", "\\n"}}); }

TEST_F(FakeSlurm, CreateNamesTheMissingCommand) {
  std::filesystem::remove(dir_.path() / "bin" / "scontrol");
  SlurmOptions options;
  options.bin_dir = dir_.File("bin");
  absl::StatusOr<std::unique_ptr<SlurmClient>> client = SlurmClient::Create(options);
  ASSERT_EQ(client.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      client.status().message(),
      HasSubstr("the Slurm command scontrol is not an executable file in " + dir_.File("bin")));
}

TEST_F(FakeSlurm, CreateRefusesBadOptions) {
  SlurmOptions options;
  options.bin_dir = dir_.File("bin");
  options.command_timeout = absl::ZeroDuration();
  EXPECT_EQ(SlurmClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.command_timeout = absl::Seconds(1);
  options.max_ids_per_poll = 100000;
  EXPECT_EQ(SlurmClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FakeSlurm, SubmitReturnsTheJobId) {
  Behave("out=4242\\n");
  absl::StatusOr<JobId> id = Client()->Submit(Request());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 4242);
}

TEST_F(FakeSlurm, SubmitRefusesABadRequestNamingTheField) {
  struct Case {
    void (*change)(SubmitRequest&);
    const char* says;
  } cases[] = {
      {[](SubmitRequest& r) { r.program = "ablate-worker"; }, "program must be an absolute path"},
      {[](SubmitRequest& r) { r.program = "/opt/a\nb"; }, "program must not contain control"},
      {[](SubmitRequest& r) { r.job_name = "run 7"; }, "name must be 1-128 characters"},
      {[](SubmitRequest& r) { r.job_name = ""; }, "name must be 1-128 characters"},
      {[](SubmitRequest& r) { r.working_dir = "tmp"; }, "working directory must be an absolute"},
      {[](SubmitRequest& r) { r.stdout_path = "/tmp/a b"; }, "stdout path must not contain spaces"},
      {[](SubmitRequest& r) { r.stderr_path = ""; }, "stderr path must be an absolute path"},
      {[](SubmitRequest& r) { r.partition = "--export=ALL"; }, "partition must be 1-256 bytes"},
      {[](SubmitRequest& r) { r.time_limit = "1 00"; }, "time limit must be 1-256 bytes"},
      {[](SubmitRequest& r) { r.extra_args = {"--export=ALL"}; }, "'--export=ALL' is refused"},
      {[](SubmitRequest& r) { r.extra_args = {"--exp=ALL"}; }, "'--exp=ALL' is refused"},
      {[](SubmitRequest& r) { r.extra_args = {"--wrap=sh"}; }, "'--wrap=sh' is refused"},
      {[](SubmitRequest& r) { r.extra_args = {"-o/tmp/x"}; }, "'-o/tmp/x' is refused"},
      {[](SubmitRequest& r) { r.extra_args = {"-D/"}; }, "'-D/' is refused"},
      {[](SubmitRequest& r) { r.extra_args = {"/tmp/other-script"}; }, "must be one sbatch option"},
      {[](SubmitRequest& r) {
         r.environment = {{"SLURM_CONF", "x"}};
       },
       "not start with SLURM_"},
      {[](SubmitRequest& r) {
         r.environment = {{"A-B", "x"}};
       },
       "name 'A-B' must match"},
      {[](SubmitRequest& r) {
         r.environment = {{"A", "x"}, {"A", "y"}};
       },
       "'A' is given twice"},
      {[](SubmitRequest& r) {
         r.environment = {{"A", std::string("x\0y", 3)}};
       },
       "NUL"},
      {[](SubmitRequest& r) { r.args = {std::string("x\0y", 3)}; },
       "argument must not contain NUL"},
  };
  Behave("out=1\\n");
  std::unique_ptr<SlurmClient> client = Client();
  for (const Case& c : cases) {
    SubmitRequest request = Request();
    c.change(request);
    absl::StatusOr<JobId> id = client->Submit(request);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << c.says;
    EXPECT_THAT(id.status().message(), HasSubstr(c.says));
  }
  SubmitRequest fine = Request();
  fine.extra_args = {"--mem=2G", "--exclusive", "-pdebug", "--qos=class"};
  fine.partition = "debug,gpu";
  fine.time_limit = "1-00:00:00";
  EXPECT_TRUE(client->Submit(fine).ok());
}

TEST_F(FakeSlurm, SubmitQuotesWhatSlurmSaidWhenItRefuses) {
  Behave("exit=1\nerr=" + Escaped(Fixture("sbatch_bad_partition.stderr")));
  absl::StatusOr<JobId> id = Client()->Submit(Request());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(id.status().message(),
            "sbatch of job 'ablate-run-7' failed with exit code 1: invalid partition specified: "
            "nosuchpartition; Batch job submission failed: Invalid partition name specified.");
}

TEST_F(FakeSlurm, AnUnreachableControllerIsUnavailable) {
  Behave(
      "exit=1\nerr=sbatch: error: Batch job submission failed: Unable to contact slurm "
      "controller (connect failure)\\n");
  absl::StatusOr<JobId> id = Client()->Submit(Request());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(id.status().message(), HasSubstr("Unable to contact slurm controller"));
}

TEST_F(FakeSlurm, ACommandThatHangsIsKilledAndSaysItsLastWords) {
  Behave(
      "err=squeue: error: Munge encode failed: Failed to access socket (retrying ...)\\n\n"
      "sleep_ms=20000");
  SlurmOptions options;
  options.command_timeout = absl::Milliseconds(300);
  absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> states = Client(options)->Poll({1, 2});
  EXPECT_EQ(states.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(states.status().message(),
              HasSubstr("squeue of 2 job(s): squeue did not finish within 300ms and was killed; "
                        "its last words: squeue: error: Munge encode failed"));
}

TEST_F(FakeSlurm, PollReturnsOnlyTheJobsAskedFor) {
  Behave("out=" + Escaped(Fixture("squeue_states.txt")));
  absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> states = Client()->Poll({14, 19, 20, 999});
  ASSERT_TRUE(states.ok()) << states.status();
  std::vector<JobId> ids;
  for (const auto& [id, status] : *states) ids.push_back(id);
  EXPECT_THAT(ids, UnorderedElementsAre(14, 19, 20));
  EXPECT_EQ(states->at(19).state, JobState::kRunning);
  EXPECT_TRUE(Client()->Poll({})->empty());
}

TEST_F(FakeSlurm, PollSplitsManyIdsIntoSeveralCalls) {
  // Each call prints all eight captured jobs; only those of its own chunk count.
  Behave("out=" + Escaped(Fixture("squeue_states.txt")));
  SlurmOptions options;
  options.max_ids_per_poll = 2;
  absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> states =
      Client(options)->Poll({18, 14, 15, 16, 17, 14, 999});
  ASSERT_TRUE(states.ok()) << states.status();
  std::vector<JobId> ids;
  for (const auto& [id, status] : *states) ids.push_back(id);
  EXPECT_THAT(ids, UnorderedElementsAre(14, 15, 16, 17, 18));
  EXPECT_EQ(Client()->Poll({0}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FakeSlurm, PollOfOneJobSlurmHasForgottenIsEmpty) {
  Behave("exit=1\nerr=" + Escaped(Fixture("squeue_invalid_id.stderr")));
  absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> states = Client()->Poll({999999});
  ASSERT_TRUE(states.ok()) << states.status();
  EXPECT_TRUE(states->empty());
  // With several ids the same error is an error: squeue does not fail for unknown ids then.
  EXPECT_EQ(Client()->Poll({1, 2}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FakeSlurm, OutcomeFallsBackToTheJobcompFile) {
  Behave("exit=1\nerr=" + Escaped(Fixture("scontrol_invalid_id.stderr")));
  SlurmOptions options;
  options.jobcomp_file = std::string(ABLATE_SLURM_TESTDATA) + "/jobcomp.log";
  absl::StatusOr<JobOutcome> outcome = Client(options)->Outcome(16);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->source, "jobcomp");
  EXPECT_EQ(outcome->status.state, JobState::kFailed);
  EXPECT_EQ(outcome->exit_code, kExitProgramMissing);

  outcome = Client(options)->Outcome(3);
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(outcome.status().message(), HasSubstr("has no record of it"));
  outcome = Client()->Outcome(16);
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(outcome.status().message(),
            "Slurm does not know job 16 any more (scontrol forgets a job MinJobAge after it "
            "ends), and no jobcomp file is configured.");
}

TEST_F(FakeSlurm, OutcomeFindsAnOldJobInALargeJobcompFile) {
  Behave("exit=1\nerr=" + Escaped(Fixture("scontrol_invalid_id.stderr")));
  // Job 5's line, then 3 MiB of other jobs' lines: the search crosses block boundaries.
  std::ofstream out(dir_.File("jobcomp.log"));
  out << "JobId=5 UserId=u(1) Name=x JobState=TIMEOUT Partition=p ExitCode=0:0\n";
  for (int id = 6; out.tellp() < (3 << 20); ++id) {
    out << "JobId=" << id << " UserId=u(1) Name=" << std::string(200, 'n')
        << " JobState=COMPLETED Partition=p ExitCode=0:0\n";
  }
  out.close();
  SlurmOptions options;
  options.jobcomp_file = dir_.File("jobcomp.log");
  absl::StatusOr<JobOutcome> outcome = Client(options)->Outcome(5);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->status.state, JobState::kTimeout);
  options.max_jobcomp_scan_bytes = 1 << 20;  // job 5 is older than the last MiB
  EXPECT_EQ(Client(options)->Outcome(5).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeSlurm, CancelReportsAFailureWithWhatScancelSaid) {
  Behave("exit=0");
  EXPECT_TRUE(Client()->Cancel(12).ok());
  Behave("exit=1\nerr=scancel: error: Kill job error on job id 12: Access/permission denied\\n");
  absl::Status status = Client()->Cancel(12);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "scancel 12 failed with exit code 1: Kill job error on job id 12: Access/permission "
            "denied.");
  EXPECT_EQ(Client()->Cancel(0).code(), absl::StatusCode::kInvalidArgument);
}

// The batch script, run by /bin/sh here as slurmstepd runs it on a node.
CommandResult RunScript(const std::string& program, const std::vector<std::string>& args) {
  Command command;
  command.program = "/bin/sh";
  command.inputs = {{0, BatchScript(program, args)}};
  command.env = {"SLURMD_NODENAME=node7"};
  absl::StatusOr<CommandResult> result = RunCommand(command);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : CommandResult{};
}

TEST(BatchScript, ExecsTheProgramWithItsArgumentsVerbatim) {
  TempDir dir("slurm_script");
  const std::vector<std::string> args = {
      dir.File("report"), "0", "0", "it's", "$(id)", "a b", "\"q\"", "line\nbreak", "`x`", "\\"};
  EXPECT_EQ(RunScript(ABLATE_SLURM_PROBE, args).exit_code, 0);
  std::string expected = absl::StrCat("arg=", ABLATE_SLURM_PROBE, "\n");
  for (const std::string& arg : args) absl::StrAppend(&expected, "arg=", arg, "\n");
  EXPECT_THAT(ReadFile(dir.File("report")), HasSubstr(expected));
}

TEST(BatchScript, SaysWhenTheProgramIsMissingOrNotExecutable) {
  CommandResult missing = RunScript("/nonexistent/ablate-worker", {});
  EXPECT_EQ(missing.exit_code, kExitProgramMissing);
  EXPECT_EQ(missing.err,
            "ablate: the program /nonexistent/ablate-worker does not exist on node7\n");
  TempDir dir("slurm_script");
  std::ofstream(dir.File("plain")) << "not a program\n";
  CommandResult plain = RunScript(dir.File("plain"), {});
  EXPECT_EQ(plain.exit_code, kExitProgramNotExecutable);
  EXPECT_THAT(plain.err, HasSubstr("is not an executable file on node7"));
}

}  // namespace
}  // namespace ablate::slurm
