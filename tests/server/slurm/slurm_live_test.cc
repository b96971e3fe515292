// SlurmClient against a live one-node cluster (deploy/slurm/start-one-node.sh), which the ctest
// fixture slurm.cluster_start starts in $ABLATE_SLURM_TEST_DIR and slurm.cluster_stop stops.
// The batch program is slurm_probe, which reports how it was started.
#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/slurm/parse.h"
#include "server/slurm/slurm_client.h"
#include "server/slurm/subprocess.h"
#include "tests/support/temp_dir.h"

namespace ablate::slurm {
namespace {

using test_support::ReadFile;
using test_support::TempDir;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// Long enough for a loaded 2-core machine; a job normally starts within about a second.
constexpr absl::Duration kJobWait = absl::Seconds(30);

// The cluster's directory, or empty with the reason in `why`.
std::string ClusterDir(std::string& why) {
  const char* dir = std::getenv("ABLATE_SLURM_TEST_DIR");
  if (dir == nullptr || *dir == '\0') {
    why =
        "ABLATE_SLURM_TEST_DIR is not set (ctest sets it; the fixture slurm.cluster_start "
        "starts the cluster)";
    return "";
  }
  if (!std::filesystem::exists(std::filesystem::path(dir) / "env")) {
    why = absl::StrCat("the one-node Slurm cluster is not running in ", dir,
                       " (slurm.cluster_start starts it, or was skipped because Slurm is not "
                       "installed: deploy/install-deps.sh installs it)");
    return "";
  }
  return dir;
}

std::vector<std::string> ReportLines(const std::string& text, const std::string& key) {
  std::vector<std::string> values;
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (const std::string& line : lines) {
    if (line.rfind(key + "=", 0) == 0) values.push_back(line.substr(key.size() + 1));
  }
  return values;
}

// Waits until `path` exists (the probe renames its report into place when complete).
bool WaitForFile(const std::string& path, absl::Duration wait = kJobWait) {
  const absl::Time deadline = absl::Now() + wait;
  while (absl::Now() < deadline) {
    if (std::filesystem::exists(path)) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

class SlurmLive : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    cluster_ = ClusterDir(why);
    if (cluster_.empty()) {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && std::string(ci) == "true") FAIL() << why;
      GTEST_SKIP() << why;
    }
    client_ = MakeClient("");
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    for (JobId id : submitted_) (void)client_->Cancel(id);
  }

  std::unique_ptr<SlurmClient> MakeClient(const std::string& bin_dir) {
    SlurmOptions options;
    options.bin_dir = bin_dir;
    options.slurm_conf = cluster_ + "/slurm.conf";
    options.jobcomp_file = cluster_ + "/jobcomp.log";
    absl::StatusOr<std::unique_ptr<SlurmClient>> client = SlurmClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // A request to run slurm_probe, writing its report to dir_/NAME.report.
  SubmitRequest Probe(const std::string& name, int sleep_ms = 0, int exit_code = 0) {
    SubmitRequest r;
    r.program = ABLATE_SLURM_PROBE;
    r.args = {Report(name), absl::StrCat(sleep_ms), absl::StrCat(exit_code)};
    r.job_name = "ablate-test-" + name;
    r.working_dir = dir_.path().string();
    r.stdout_path = dir_.File(name + ".out");
    r.stderr_path = dir_.File(name + ".err");
    return r;
  }
  std::string Report(const std::string& name) { return dir_.File(name + ".report"); }

  JobId Submit(const SubmitRequest& request, SlurmClient* client = nullptr) {
    absl::StatusOr<JobId> id = (client ? client : client_.get())->Submit(request);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return 0;
    submitted_.push_back(*id);
    return *id;
  }

  // Polls until the job reaches a final state, then returns its outcome.
  JobOutcome WaitForEnd(JobId id) {
    const absl::Time deadline = absl::Now() + kJobWait;
    while (absl::Now() < deadline) {
      absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> states = client_->Poll({id});
      EXPECT_TRUE(states.ok()) << states.status();
      if (!states.ok()) break;
      auto it = states->find(id);
      if (it != states->end() && IsFinal(it->second.state)) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    absl::StatusOr<JobOutcome> outcome = client_->Outcome(id);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? *outcome : JobOutcome{};
  }

  std::string cluster_;
  TempDir dir_{"slurm_live"};
  std::unique_ptr<SlurmClient> client_;
  std::vector<JobId> submitted_;
};

TEST_F(SlurmLive, RunsTheProgramInItsDirectoryWithOnlyItsOwnEnvironment) {
  // A variable of this process's environment must not reach the job.
  setenv("ABLATE_TEST_MUST_NOT_LEAK", "leaked", 1);
  SubmitRequest request = Probe("env");
  request.args.push_back("an argument with spaces");
  request.environment = {{"ABLATE_TEST_VALUE", "hello world; $HOME 'quoted'"},
                         {"ABLATE_TEST_EMPTY", ""}};
  const JobId id = Submit(request);
  ASSERT_TRUE(WaitForFile(Report("env"))) << "the job did not start within " << kJobWait;
  const std::string report = ReadFile(Report("env"));

  EXPECT_THAT(ReportLines(report, "cwd"), testing::ElementsAre(dir_.path().string()));
  EXPECT_THAT(
      ReportLines(report, "arg"),
      testing::ElementsAre(ABLATE_SLURM_PROBE, Report("env"), "0", "0", "an argument with spaces"));
  const std::vector<std::string> env = ReportLines(report, "env");
  EXPECT_THAT(env, Contains("ABLATE_TEST_VALUE=hello world; $HOME 'quoted'"));
  EXPECT_THAT(env, Contains("ABLATE_TEST_EMPTY="));
  EXPECT_THAT(env, Contains(absl::StrCat("SLURM_JOB_ID=", id)));
  // Nothing else: not this process's variables, not a login environment (PATH, HOME, ...).
  const std::set<std::string> slurm_own = {"ENVIRONMENT", "HOSTNAME", "PWD", "TMPDIR"};
  for (const std::string& var : env) {
    const std::string name = var.substr(0, var.find('='));
    EXPECT_TRUE(name.rfind("SLURM", 0) == 0 || name == "ABLATE_TEST_VALUE" ||
                name == "ABLATE_TEST_EMPTY" || slurm_own.count(name))
        << "unexpected variable in the job: " << var;
  }

  const JobOutcome outcome = WaitForEnd(id);
  EXPECT_EQ(outcome.status.state, JobState::kCompleted) << outcome.Describe();
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(outcome.source, "scontrol");
  EXPECT_TRUE(std::filesystem::exists(dir_.File("env.out")));
}

TEST_F(SlurmLive, PollsManyJobsInOneCall) {
  const JobId running = Submit(Probe("running", 60000));
  const JobId done = Submit(Probe("done"));
  const JobId failed = Submit(Probe("failed", 0, 5));
  SubmitRequest held_request = Probe("held");
  held_request.extra_args = {"--hold"};
  const JobId held = Submit(held_request);
  constexpr JobId kUnknown = 2000000000;
  ASSERT_TRUE(WaitForFile(Report("running")));

  absl::flat_hash_map<JobId, JobStatus> states;
  const absl::Time deadline = absl::Now() + kJobWait;
  while (absl::Now() < deadline) {
    absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> polled =
        client_->Poll({running, done, failed, held, kUnknown, done});
    ASSERT_TRUE(polled.ok()) << polled.status();
    states = *std::move(polled);
    if (states.size() == 4 && IsFinal(states[done].state) && IsFinal(states[failed].state)) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_EQ(states.size(), 4u) << "the unknown id must be absent, the four jobs present";
  EXPECT_EQ(states[running].state, JobState::kRunning);
  EXPECT_EQ(states[done].state, JobState::kCompleted);
  EXPECT_EQ(states[failed].state, JobState::kFailed);
  EXPECT_EQ(states[held].state, JobState::kPending);
  EXPECT_FALSE(states.contains(kUnknown));
}

TEST_F(SlurmLive, CancelEndsARunningJobAsCancelled) {
  const JobId id = Submit(Probe("cancel", 60000));
  ASSERT_TRUE(WaitForFile(Report("cancel")));
  ASSERT_TRUE(client_->Cancel(id).ok());
  const JobOutcome outcome = WaitForEnd(id);
  EXPECT_EQ(outcome.status.state, JobState::kCancelled) << outcome.Describe();
  EXPECT_EQ(outcome.Describe(), absl::StrCat("Slurm job ", id, " was cancelled on localhost."));
  // Cancelling again, or an id Slurm never had, is not an error.
  EXPECT_TRUE(client_->Cancel(id).ok());
  EXPECT_TRUE(client_->Cancel(2000000000).ok());
}

TEST_F(SlurmLive, ReportsTheExitCodeOfAFailingProgram) {
  const JobId id = Submit(Probe("exit3", 0, 3));
  const JobOutcome outcome = WaitForEnd(id);
  EXPECT_EQ(outcome.status.state, JobState::kFailed);
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_EQ(outcome.signal, 0);
  EXPECT_EQ(outcome.Describe(),
            absl::StrCat("Slurm job ", id, " failed on localhost with exit code 3."));
}

TEST_F(SlurmLive, SaysWhenTheProgramIsMissingOnTheNode) {
  SubmitRequest request = Probe("missing");
  request.program = dir_.File("no-such-worker");
  const JobId id = Submit(request);
  const JobOutcome outcome = WaitForEnd(id);
  EXPECT_EQ(outcome.status.state, JobState::kFailed);
  EXPECT_EQ(outcome.exit_code, kExitProgramMissing);
  EXPECT_EQ(outcome.Describe(request.program),
            absl::StrCat("Slurm job ", id, " failed on localhost: the program ", request.program,
                         " does not exist there (exit code 127)."));
  EXPECT_THAT(ReadFile(dir_.File("missing.err")),
              HasSubstr(absl::StrCat("the program ", request.program, " does not exist on")));
}

TEST_F(SlurmLive, TheJobcompRecordAgreesWithScontrol) {
  const JobId id = Submit(Probe("jobcomp", 0, 4));
  const JobOutcome from_scontrol = WaitForEnd(id);
  // slurmctld writes the jobcomp line as the job ends; give it a moment.
  std::optional<std::string_view> line;
  std::string text;
  for (int i = 0; i < 50 && !line; ++i) {
    text = ReadFile(cluster_ + "/jobcomp.log");
    line = FindJobcompLine(text, id);
    if (!line) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(line.has_value()) << "no jobcomp line for job " << id;
  absl::StatusOr<JobOutcome> from_jobcomp = ParseJobcompLine(*line, id);
  ASSERT_TRUE(from_jobcomp.ok()) << from_jobcomp.status();
  EXPECT_EQ(from_jobcomp->status.state, from_scontrol.status.state);
  EXPECT_EQ(from_jobcomp->exit_code, 4);
  EXPECT_EQ(from_scontrol.exit_code, 4);
}

// Every process's command line, read from /proc.
std::vector<std::pair<int, std::string>> CommandLines() {
  std::vector<std::pair<int, std::string>> lines;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return lines;
  while (dirent* entry = readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::string text = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    if (!text.empty()) lines.emplace_back(pid, std::move(text));
  }
  closedir(proc);
  return lines;
}

TEST_F(SlurmLive, TheSecretIsOnNoCommandLineAndOnlyInTheJobsEnvironment) {
  // bin_dir/sbatch is a spy that waits 400 ms before it becomes the real sbatch, so that its
  // command line, environment and descriptor 3 can be read in /proc meanwhile.
  const std::filesystem::path bin = dir_.path() / "bin";
  std::filesystem::create_directory(bin);
  std::filesystem::create_symlink(ABLATE_SLURM_TOOL_DOUBLE, bin / "sbatch");
  for (const char* tool : {"squeue", "scontrol", "scancel"}) {
    std::filesystem::create_symlink(std::filesystem::path("/usr/bin") / tool, bin / tool);
    if (!std::filesystem::exists(bin / tool)) GTEST_SKIP() << "no /usr/bin/" << tool;
  }
  std::unique_ptr<SlurmClient> spied = MakeClient(bin.string());
  ASSERT_NE(spied, nullptr);

  char random[16];
  std::ifstream("/dev/urandom").read(random, sizeof(random));
  const std::string secret =
      absl::StrCat("abl_secret_", absl::BytesToHexString(std::string(random, sizeof(random))));

  // Watch every command line until the job has ended; catch the spy sbatch on the way.
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  std::vector<std::string> leaks;
  bool saw_probe = false;  // proof that the watcher reads the job's command line
  std::string sbatch_cmdline, sbatch_environ, sbatch_fd3;
  std::thread watcher([&] {
    while (!stop.load()) {
      for (const auto& [pid, cmdline] : CommandLines()) {
        if (cmdline.find(secret) != std::string::npos) {
          absl::MutexLock lock(&mu);
          leaks.push_back(cmdline);
        }
        if (cmdline.find(Report("secret")) != std::string::npos) {
          absl::MutexLock lock(&mu);
          saw_probe = true;
        }
        if (cmdline.rfind(std::string("sbatch\0", 7), 0) == 0) {
          const std::string fd3 = ReadFile(absl::StrCat("/proc/", pid, "/fd/3"));
          const std::string environ = ReadFile(absl::StrCat("/proc/", pid, "/environ"));
          absl::MutexLock lock(&mu);
          if (sbatch_cmdline.empty() && !fd3.empty()) {
            sbatch_cmdline = cmdline;
            sbatch_environ = environ;
            sbatch_fd3 = fd3;
          }
        }
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  });

  SubmitRequest request = Probe("secret", 1500);
  request.environment = {{"ABLATE_RUN_SECRET", secret}};
  const JobId id = Submit(request, spied.get());
  const bool started = WaitForFile(Report("secret"));
  std::string scontrol_dd, squeue_all;
  if (started) {
    // What Slurm's tools show about the running job to anyone who asks.
    for (auto [args, out] : {std::pair<std::vector<std::string>, std::string*>{
                                 {"show", "job", "-dd", absl::StrCat(id)}, &scontrol_dd},
                             {{"-h", "-o", "%all", "-j", absl::StrCat(id)}, &squeue_all}}) {
      Command command;
      command.program = args[0] == "show" ? "/usr/bin/scontrol" : "/usr/bin/squeue";
      command.args = args;
      command.env = {"SLURM_CONF=" + cluster_ + "/slurm.conf"};
      absl::StatusOr<CommandResult> result = RunCommand(command);
      ASSERT_TRUE(result.ok()) << result.status();
      *out = result->out + result->err;
    }
  }
  const JobOutcome outcome = WaitForEnd(id);
  stop = true;
  watcher.join();

  ASSERT_TRUE(started) << "the job did not start within " << kJobWait;
  EXPECT_EQ(outcome.status.state, JobState::kCompleted) << outcome.Describe();
  EXPECT_THAT(ReportLines(ReadFile(Report("secret")), "env"),
              Contains("ABLATE_RUN_SECRET=" + secret));
  absl::MutexLock lock(&mu);
  EXPECT_THAT(leaks, testing::IsEmpty()) << "the secret was on a command line";
  EXPECT_TRUE(saw_probe) << "the watcher never saw the job's program running";
  ASSERT_FALSE(sbatch_cmdline.empty()) << "the watcher never saw sbatch running";
  EXPECT_THAT(sbatch_cmdline, HasSubstr(std::string("--export-file=3", 15)));
  EXPECT_THAT(sbatch_cmdline, Not(HasSubstr(secret)));
  EXPECT_THAT(sbatch_environ, HasSubstr("SLURM_CONF="));  // it was read
  EXPECT_THAT(sbatch_environ, Not(HasSubstr(secret)));
  EXPECT_EQ(sbatch_fd3, std::string("ABLATE_RUN_SECRET=") + secret + std::string(1, '\0'));
  EXPECT_THAT(scontrol_dd, HasSubstr(absl::StrCat("JobId=", id)));
  EXPECT_THAT(scontrol_dd, Not(HasSubstr(secret)));
  EXPECT_THAT(squeue_all, Not(HasSubstr(secret)));
}

}  // namespace
}  // namespace ablate::slurm
