// The parsers against output captured from Slurm 22.05.8 (testdata/, made by
// testdata/capture.sh on a one-node cluster) and against hostile text.
#include "server/slurm/parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "server/slurm/job_state.h"
#include "tests/support/temp_dir.h"

namespace ablate::slurm {
namespace {

using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  std::string text = test_support::ReadFile(std::string(ABLATE_SLURM_TESTDATA) + "/" + name);
  EXPECT_FALSE(text.empty()) << "missing fixture " << name;
  return text;
}

TEST(ParseSbatch, ReadsTheIdWithOrWithoutCluster) {
  EXPECT_EQ(*ParseSbatchParsable(Fixture("sbatch_parsable.txt")), 13);
  EXPECT_EQ(*ParseSbatchParsable("4242;cluster2\n"), 4242);
}

TEST(ParseSbatch, RefusesWhatIsNotAnId) {
  for (const char* text : {"", "\n", "Submitted batch job 12\n", "-3", "12abc", "0", ";x"}) {
    absl::StatusOr<JobId> id = ParseSbatchParsable(text);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ParseSqueue, ReadsEveryCapturedState) {
  absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> jobs =
      ParseSqueue(Fixture("squeue_states.txt"));
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  // testdata/job_ids.txt: completed=14 exit3=15 missing=16 signaled=17 timeout=18 (still
  // running when squeue ran) running=19 cancelled=20 pending=21
  ASSERT_EQ(jobs->size(), 8u);
  EXPECT_EQ(jobs->at(14).state, JobState::kCompleted);
  EXPECT_EQ(jobs->at(15).state, JobState::kFailed);
  EXPECT_EQ(jobs->at(16).state, JobState::kFailed);
  EXPECT_EQ(jobs->at(17).state, JobState::kFailed);
  EXPECT_EQ(jobs->at(18).state, JobState::kRunning);
  EXPECT_EQ(jobs->at(19).state, JobState::kRunning);
  EXPECT_EQ(jobs->at(20).state, JobState::kCancelled);
  EXPECT_EQ(jobs->at(21).state, JobState::kPending);
  EXPECT_EQ(jobs->at(21).text, "PENDING");
}

TEST(ParseSqueue, KeepsAStateItDoesNotKnowAsText) {
  absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> jobs = ParseSqueue("7|RESV_DEL_HOLD\n");
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->at(7).state, JobState::kOther);
  EXPECT_EQ(jobs->at(7).text, "RESV_DEL_HOLD");
  EXPECT_FALSE(IsFinal(JobState::kOther));
}

TEST(ParseSqueue, EmptyOutputIsNoJobs) {
  EXPECT_TRUE(ParseSqueue("")->empty());
  EXPECT_TRUE(ParseSqueue("\n\n")->empty());
}

TEST(ParseSqueue, RefusesLinesOfAnotherShape) {
  for (const char* text : {"12 RUNNING\n", "12|\n", "x|RUNNING\n", "12_3|RUNNING\n",
                           "12|RUNNING|extra\n", "JOBID|STATE\n"}) {
    absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> jobs = ParseSqueue(text);
    ASSERT_FALSE(jobs.ok()) << text;
    EXPECT_THAT(jobs.status().message(), HasSubstr("not 'ID|STATE'"));
  }
}

struct ScontrolCase {
  const char* fixture;
  JobId id;
  JobState state;
  int exit_code;
  int signal;
  const char* reason;
  const char* nodes;
};

TEST(ParseScontrol, ReadsEveryCapturedOutcome) {
  const ScontrolCase cases[] = {
      {"scontrol_done_ok.txt", 14, JobState::kCompleted, 0, 0, "", "localhost"},
      {"scontrol_failed.txt", 15, JobState::kFailed, 3, 0, "NonZeroExitCode", "localhost"},
      {"scontrol_missing.txt", 16, JobState::kFailed, 127, 0, "NonZeroExitCode", "localhost"},
      {"scontrol_signaled.txt", 17, JobState::kFailed, 0, 9, "JobLaunchFailure", "localhost"},
      {"scontrol_timeout.txt", 18, JobState::kTimeout, 0, 15, "TimeLimit", "localhost"},
      {"scontrol_running.txt", 19, JobState::kRunning, 0, 0, "", "localhost"},
      {"scontrol_cancelled.txt", 20, JobState::kCancelled, 0, 15, "", "localhost"},
      {"scontrol_pending.txt", 21, JobState::kPending, 0, 0, "JobHeldUser", ""},
  };
  for (const ScontrolCase& c : cases) {
    SCOPED_TRACE(c.fixture);
    absl::StatusOr<JobOutcome> outcome = ParseScontrolJob(Fixture(c.fixture), c.id);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_EQ(outcome->id, c.id);
    EXPECT_EQ(outcome->status.state, c.state);
    EXPECT_EQ(outcome->exit_code, c.exit_code);
    EXPECT_EQ(outcome->signal, c.signal);
    EXPECT_EQ(outcome->reason, c.reason);
    EXPECT_EQ(outcome->node_list, c.nodes);
    EXPECT_EQ(outcome->source, "scontrol");
  }
}

TEST(ParseScontrol, AnotherJobsRecordIsNotThisJobs) {
  absl::StatusOr<JobOutcome> outcome = ParseScontrolJob(Fixture("scontrol_done_ok.txt"), 1);
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kInvalidArgument);
  // JobId=14 must not match a request for job 1 (a prefix of it).
  outcome = ParseScontrolJob(Fixture("scontrol_done_ok.txt"), 141);
  EXPECT_FALSE(outcome.ok());
}

TEST(ParseScontrol, RefusesARecordWithoutStateOrExitCode) {
  EXPECT_FALSE(ParseScontrolJob("JobId=5 JobName=x ExitCode=0:0\n", 5).ok());
  EXPECT_FALSE(ParseScontrolJob("JobId=5 JobState=FAILED ExitCode=3\n", 5).ok());
  EXPECT_FALSE(ParseScontrolJob("JobId=5 JobState=FAILED ExitCode=999:0\n", 5).ok());
  EXPECT_TRUE(ParseScontrolJob("JobId=5 JobState=FAILED ExitCode=3:0\n", 5).ok());
}

TEST(ParseRecord, AValueWithSpacesStaysWholeAndTheFirstKeyWins) {
  auto fields = ParseRecord(
      "JobId=7 JobState=COMPLETED ExitCode=0:0 WorkDir=/tmp/a b c StdOut=/x "
      "Comment=JobState=FAILED ExitCode=9:0");
  EXPECT_EQ(fields["WorkDir"], "/tmp/a b c");
  EXPECT_EQ(fields["JobState"], "COMPLETED");
  EXPECT_EQ(fields["ExitCode"], "0:0");
  EXPECT_EQ(fields["Comment"], "JobState=FAILED");
  EXPECT_EQ(fields["AllocNode:Sid"], "");
  EXPECT_EQ(ParseRecord("AllocNode:Sid=localhost:18535 CPUs/Task=1")["CPUs/Task"], "1");
}

TEST(Jobcomp, FindsEachCapturedJobsLine) {
  const std::string text = Fixture("jobcomp.log");
  struct Case {
    JobId id;
    JobState state;
    int exit_code;
    int signal;
  } cases[] = {{14, JobState::kCompleted, 0, 0}, {15, JobState::kFailed, 3, 0},
               {16, JobState::kFailed, 127, 0},  {17, JobState::kFailed, 0, 9},
               {18, JobState::kTimeout, 0, 0},   {19, JobState::kCancelled, 0, 0},
               {20, JobState::kCancelled, 0, 0}, {21, JobState::kCancelled, 0, 0}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    std::optional<std::string_view> line = FindJobcompLine(text, c.id);
    ASSERT_TRUE(line.has_value());
    absl::StatusOr<JobOutcome> outcome = ParseJobcompLine(*line, c.id);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_EQ(outcome->status.state, c.state);
    EXPECT_EQ(outcome->exit_code, c.exit_code);
    EXPECT_EQ(outcome->signal, c.signal);
    EXPECT_EQ(outcome->source, "jobcomp");
  }
  EXPECT_EQ(FindJobcompLine(text, 1), std::nullopt);
  EXPECT_EQ(FindJobcompLine(text, 141), std::nullopt);
  EXPECT_EQ(ParseJobcompLine(*FindJobcompLine(text, 21), 21)->node_list, "");
}

TEST(Jobcomp, TheLastLineOfARequeuedJobWins) {
  const std::string text =
      "JobId=5 JobState=NODE_FAIL ExitCode=0:0\n"
      "JobId=50 JobState=FAILED ExitCode=1:0\n"
      "JobId=5 JobState=COMPLETED ExitCode=0:0";  // no final newline
  EXPECT_EQ(*FindJobcompLine(text, 5), "JobId=5 JobState=COMPLETED ExitCode=0:0");
  EXPECT_EQ(*FindJobcompLine(text + "\n", 5), "JobId=5 JobState=COMPLETED ExitCode=0:0");
  EXPECT_EQ(*FindJobcompLine(text, 50), "JobId=50 JobState=FAILED ExitCode=1:0");
  EXPECT_EQ(FindJobcompLine("", 5), std::nullopt);
}

TEST(Errors, RecognisesAnUnknownJobId) {
  EXPECT_TRUE(SaysInvalidJobId(Fixture("squeue_invalid_id.stderr")));
  EXPECT_TRUE(SaysInvalidJobId(Fixture("scontrol_invalid_id.stderr")));
  EXPECT_FALSE(SaysInvalidJobId(Fixture("sbatch_bad_partition.stderr")));
}

TEST(Describe, SaysWhatHappenedInOneSentence) {
  JobOutcome missing = *ParseScontrolJob(Fixture("scontrol_missing.txt"), 16);
  EXPECT_EQ(missing.Describe("/opt/ablate/bin/ablate-worker"),
            "Slurm job 16 failed on localhost: the program /opt/ablate/bin/ablate-worker does "
            "not exist there (exit code 127).");
  EXPECT_EQ(ParseScontrolJob(Fixture("scontrol_failed.txt"), 15)->Describe(),
            "Slurm job 15 failed on localhost with exit code 3.");
  EXPECT_EQ(ParseScontrolJob(Fixture("scontrol_signaled.txt"), 17)->Describe(),
            "Slurm job 17 failed on localhost: it was killed by SIGKILL (JobLaunchFailure).");
  EXPECT_EQ(ParseScontrolJob(Fixture("scontrol_timeout.txt"), 18)->Describe(),
            "Slurm job 18 reached its time limit on localhost and was stopped.");
  EXPECT_EQ(ParseScontrolJob(Fixture("scontrol_cancelled.txt"), 20)->Describe(),
            "Slurm job 20 was cancelled on localhost.");
  EXPECT_EQ(ParseScontrolJob(Fixture("scontrol_done_ok.txt"), 14)->Describe(),
            "Slurm job 14 completed on localhost with exit code 0.");
  EXPECT_EQ(ParseScontrolJob(Fixture("scontrol_pending.txt"), 21)->Describe(),
            "Slurm job 21 is waiting to start (JobHeldUser).");
}

TEST(JobStates, NamesRoundTripAndFinalStatesAreFinal) {
  for (JobState s : {JobState::kPending, JobState::kRunning, JobState::kCompleting,
                     JobState::kCompleted, JobState::kCancelled, JobState::kFailed,
                     JobState::kTimeout, JobState::kNodeFail, JobState::kOutOfMemory}) {
    EXPECT_EQ(ParseJobState(JobStateName(s)), s);
  }
  EXPECT_EQ(ParseJobState("CANCELLED+"), JobState::kCancelled);
  EXPECT_TRUE(IsFinal(JobState::kCompleted));
  EXPECT_TRUE(IsFinal(JobState::kNodeFail));
  EXPECT_FALSE(IsFinal(JobState::kCompleting));
  EXPECT_FALSE(IsFinal(JobState::kPending));
}

}  // namespace
}  // namespace ablate::slurm
