// Whole `ablate` commands, run in-process through RunCli against a fake server over real
// gRPC on 127.0.0.1: output, error lines and exit codes as a user or a script sees them.
#include "client/cli.h"
#include "client/artifacts.h"
#include "client/lab_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/client/fake_server.h"
#include "tests/support/temp_dir.h"

namespace ablate::client {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using testing::FakeAblation;
using testing::FakeServer;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::LabJob;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using testing::TrainingHistory;
using test_support::ReadFile;
using test_support::TempDir;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

Result RunAblate(std::vector<std::string> args, bool terminal = false) {
  std::ostringstream out, err;
  CliEnvironment env;
  env.out = &out;
  env.err = &err;
  env.out_is_terminal = terminal;
  env.terminal_width = 200;
  env.time_zone = absl::UTCTimeZone();
  args.insert(args.begin(), "ablate");
  Result result;
  result.code = RunCli(args, env);
  result.out = out.str();
  result.err = err.str();
  return result;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// A port on 127.0.0.1 with nothing listening (bound once by the kernel, then released).
int UnusedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}


// --- Without a server ---------------------------------------------------------------------

struct UsageCase {
  std::vector<std::string> args;
  std::string error;
};

// So test listings show the command line rather than the struct's bytes.
void PrintTo(const UsageCase& c, std::ostream* os) {
  *os << "ablate";
  for (const std::string& arg : c.args) *os << ' ' << arg;
}

class UsageTest : public ::testing::TestWithParam<UsageCase> {};

TEST_P(UsageTest, OneLineOnStderrAndExitCode2) {
  std::vector<std::string> args = GetParam().args;
  // A server that is never contacted: usage errors are found before any call.
  args.insert(args.begin(), {"--server", "127.0.0.1:1"});
  const Result result = RunAblate(args);
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_EQ(result.err, GetParam().error + "\n");
  EXPECT_THAT(result.out, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(
    Cli, UsageTest,
    ::testing::Values(
        UsageCase{{"submit", "--init", "foo:bar"},
                  "ablate: --init foo:bar: expected key=value after ':' (keys: seed, low, high), "
                  "got 'bar'"},
        UsageCase{{"submit", "--init", "kaiming", "--init", "kaiming:seed=x"},
                  "ablate: --init kaiming:seed=x: seed must be a non-negative integer, got 'x'"},
        UsageCase{{"submit", "--depth", "abc"}, "ablate: --depth: expected an integer, got 'abc'"},
        UsageCase{{"submit", "--lr", "fast"}, "ablate: --lr: expected a number, got 'fast'"},
        UsageCase{{"submit", "--spec", "/nonexistent/job.json"},
                  "ablate: cannot read the spec file /nonexistent/job.json: No such file or "
                  "directory"},
        UsageCase{{"submit", "--bogus"},
                  "ablate: the following argument was not expected: --bogus (see: ablate "
                  "submit --help)"},
        UsageCase{{"submit", "--reconnect-timeout", "-1"},
                  "ablate: --reconnect-timeout: expected a number of seconds greater than 0, "
                  "got '-1'"},
        UsageCase{{"watch"}, "ablate: JOB is required (see: ablate watch --help)"},
        UsageCase{{"watch", "abc"}, "ablate: JOB must be a job id (a positive integer), got 'abc'"},
        UsageCase{{"show", "0"}, "ablate: JOB must be a job id (a positive integer), got '0'"},
        UsageCase{{"trajectory", "x"},
                  "ablate: RUN must be a run id (a positive integer), got 'x'"},
        UsageCase{{"trajectory", "5", "--max-points", "-3"},
                  "ablate: --max-points: expected a non-negative integer, got '-3'"},
        UsageCase{{"list", "--state", "done"},
                  "ablate: --state: 'done' is not a job state (queued, running, succeeded, "
                  "failed, cancelled)"},
        UsageCase{{"list", "--since", "yesterday"},
                  "ablate: --since: 'yesterday' is not an ISO-8601 date or time (e.g. "
                  "2024-05-01, 2024-05-01T14:30 or 2024-05-01T14:30:00Z)"},
        UsageCase{{"list", "--limit", "0"},
                  "ablate: --limit: expected a positive integer, got '0'"},
        UsageCase{{"list", "--all", "--limit", "5"},
                  "ablate: --all and --limit cannot be used together"},
        UsageCase{{"list", "--timeout", "0"},
                  "ablate: --timeout: expected a number of seconds greater than 0, got '0'"},
        UsageCase{{"frobnicate"},
                  "ablate: 'frobnicate' is not an ablate subcommand (see: ablate --help)"}),
    // Names the case by its command line, e.g. "submit_init_foo_bar".
    [](const ::testing::TestParamInfo<UsageCase>& info) {
      std::string name;
      for (const std::string& arg : info.param.args) {
        for (char c : arg) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
        name += '_';
      }
      return name + std::to_string(info.index);
    });

TEST(Cli, BadJsonSpecFileIsOneLineNamingTheFile) {
  TempDir dir;
  const std::filesystem::path path = dir.path() / "job.json";
  std::ofstream(path) << "{\"model\": {\"depth\": 12,\n";
  const Result result = RunAblate({"--server", "127.0.0.1:1", "submit", "--spec", path.string()});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_THAT(result.err, StartsWith("ablate: " + path.string() + " is not a valid job spec: "));
  EXPECT_EQ(Lines(result.err).size(), 1u);
}

TEST(Cli, HelpListsEverySubcommand) {
  const Result result = RunAblate({"--help"});
  EXPECT_EQ(result.code, kExitOk);
  for (const char* sub :
       {"lab", "submit", "watch", "list", "show", "trajectory", "cancel", "download"}) {
    // "list, jobs": a subcommand's aliases follow its name.
    EXPECT_THAT(result.out, ::testing::ContainsRegex(absl::StrCat("\n  ", sub, "[ ,]")));
  }
  EXPECT_THAT(result.out, HasSubstr("--server HOST:PORT"));
  EXPECT_THAT(result.out, HasSubstr("Exit codes:"));
}

TEST(Cli, SubcommandHelpShowsItsOptions) {
  const Result result = RunAblate({"submit", "--help"});
  EXPECT_EQ(result.code, kExitOk);
  EXPECT_THAT(result.out, AllOf(HasSubstr("--init INIT"), HasSubstr("--depth N"),
                                HasSubstr("--spec FILE"), HasSubstr("Examples:")));
}

TEST(Cli, NoArgumentsPrintsHelpAndExit2) {
  const Result result = RunAblate({});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_THAT(result.out, HasSubstr("Usage: ablate"));
}

TEST(Cli, UnreachableServerIsNamedQuickly) {
  const std::string address = absl::StrCat("127.0.0.1:", UnusedPort());
  const absl::Time start = absl::Now();
  const Result result = RunAblate({"--server", address, "list"});
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err, "ablate: cannot reach the Ablate server at " + address +
                            " (is ablate-server running?)\n");
  EXPECT_THAT(result.out, IsEmpty());
}

TEST(Cli, ServerAddressComesFromTheEnvironment) {
  const std::string address = absl::StrCat("127.0.0.1:", UnusedPort());
  ::setenv("ABLATE_SERVER", address.c_str(), 1);
  const Result result = RunAblate({"show", "1"});
  ::unsetenv("ABLATE_SERVER");
  EXPECT_THAT(result.err, HasSubstr("at " + address + " "));
}

TEST(Cli, DefaultServerIsLocalhost50051) {
  ::unsetenv("ABLATE_SERVER");
  // Something may or may not listen on the default port; if the call fails for want of a
  // server, the error must name the default address.
  const Result result = RunAblate({"--timeout", "1", "show", "999999"});
  if (absl::StrContains(result.err, "Ablate server at")) {
    EXPECT_THAT(result.err, HasSubstr("at 127.0.0.1:50051 "));
  }
}

// --- Against the fake server --------------------------------------------------------------

class CliServerTest : public ::testing::Test {
 protected:
  void SetUp() override { server_ = std::make_unique<FakeServer>(&service_); }

  Result Ablate(std::vector<std::string> args, bool terminal = false) {
    args.insert(args.begin(), {"--server", server_->address()});
    return RunAblate(args, terminal);
  }

  // Job 17, queued, whose WatchJob history trains 10 steps and ends in `final_state`.
  void ScriptJob17(v1::JobState final_state = v1::JOB_STATE_SUCCEEDED, int per_update = 2) {
    const v1::Job job = LabJob(17, v1::JOB_STATE_QUEUED);
    service_.jobs[17] = job;
    service_.history = TrainingHistory(job, 10, per_update, final_state);
  }

  // A thread that stops the server as soon as a watch has begun, so that reconnecting fails.
  std::thread StopTheServerOnceAWatchBegins() {
    return std::thread([this] {
      while (true) {
        {
          std::lock_guard<std::mutex> lock(service_.mutex);
          if (!service_.watch_cursors.empty()) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      server_->Stop();
    });
  }

  FakeAblation service_;
  std::unique_ptr<FakeServer> server_;
};

TEST_F(CliServerTest, SubmitPrintsOnlyTheIdAndSendsAnEmptySpec) {
  const Result result = Ablate({"submit", "--owner", "alice"});
  EXPECT_EQ(result.code, kExitOk);
  EXPECT_EQ(result.out, "17\n");
  EXPECT_THAT(result.err, IsEmpty());
  ASSERT_EQ(service_.submits.size(), 1u);
  EXPECT_EQ(service_.submits[0].owner(), "alice");
  EXPECT_EQ(service_.submits[0].spec().ByteSizeLong(), 0u);
}

TEST_F(CliServerTest, TokenGoesWithUnaryAndStreamCallsAndTheOwnerIsLeftToTheServer) {
  ScriptJob17();
  service_.jobs.clear();  // the submitted job becomes 17
  Result result = Ablate({"--token", "abl_secret", "submit", "--watch"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  ASSERT_EQ(service_.submits.size(), 1u);
  // $USER is not sent under a token: the server takes the owner from the token.
  EXPECT_EQ(service_.submits[0].owner(), "");
  EXPECT_THAT(service_.authorizations, ElementsAre("Bearer abl_secret", "Bearer abl_secret"));
  // An --owner given explicitly is sent (the server checks it is the token's user).
  result = Ablate({"--token", "abl_secret", "submit", "--owner", "ada"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(service_.submits[1].owner(), "ada");
  // Without a token, no authorization metadata at all.
  result = Ablate({"submit"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(service_.authorizations.back(), "");
}

TEST_F(CliServerTest, SubmitSendsTheFlagsGiven) {
  const Result result =
      Ablate({"submit", "--depth", "24", "--lr", "1e-4", "--init", "kaiming:seed=7", "--init",
              "uniform:low=-1,high=1", "--continue-after-nonfinite", "--name", "deeper"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  const v1::JobSpec& spec = service_.submits.at(0).spec();
  EXPECT_EQ(spec.name(), "deeper");
  EXPECT_EQ(spec.model().depth(), 24);
  EXPECT_FALSE(spec.model().has_width());
  EXPECT_DOUBLE_EQ(spec.training().lr(), 1e-4);
  EXPECT_FALSE(spec.training().stop_on_nonfinite());
  ASSERT_EQ(spec.runs_size(), 2);
  EXPECT_EQ(spec.runs(0).weight_seed(), 7u);
  EXPECT_DOUBLE_EQ(spec.runs(1).uniform_high(), 1);
}

TEST_F(CliServerTest, SubmitSpecFileWithOverridingFlags) {
  TempDir dir;
  const std::filesystem::path path = dir.path() / "job.json";
  std::ofstream(path) << R"({"name": "saved", "training": {"steps": 500, "lr": 0.01}})";
  const Result result = Ablate({"submit", "--spec", path.string(), "--steps", "200"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  const v1::JobSpec& spec = service_.submits.at(0).spec();
  EXPECT_EQ(spec.name(), "saved");
  EXPECT_EQ(spec.training().steps(), 200);
  EXPECT_DOUBLE_EQ(spec.training().lr(), 0.01);
}

TEST_F(CliServerTest, SubmitJsonPrintsTheJob) {
  const Result result = Ablate({"submit", "--json"});
  ASSERT_EQ(result.code, kExitOk);
  EXPECT_THAT(result.out, AllOf(StartsWith("{"), HasSubstr("\"id\": 17"),
                                HasSubstr("\"state\": \"JOB_STATE_QUEUED\"")));
}

TEST_F(CliServerTest, ServerRefusalKeepsTheServersSentence) {
  service_.submit_status =
      grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "model.depth must be in 1-64, got 0");
  const Result result = Ablate({"submit", "--depth", "0"});
  // A value the server refuses is a usage error, like one the CLI refuses itself.
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_EQ(result.err,
            "ablate: the server refused the request: model.depth must be in 1-64, got 0\n");
  EXPECT_THAT(result.out, IsEmpty());
}

TEST_F(CliServerTest, ListFollowsPagesNewestFirst) {
  for (int id = 1; id <= 5; ++id) service_.jobs[id] = LabJob(id, v1::JOB_STATE_SUCCEEDED);
  const Result result = Ablate({"list"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  const std::vector<std::string> lines = Lines(result.out);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_THAT(lines[0], StartsWith("ID  CREATED"));
  EXPECT_THAT(lines[1], StartsWith(" 5  2024-05-01 12:05  alice"));
  EXPECT_THAT(lines[5], StartsWith(" 1  "));
  EXPECT_EQ(service_.list_requests.size(), 3u);  // pages of 2, 2, 1
  EXPECT_THAT(result.err, IsEmpty());
}

TEST_F(CliServerTest, ListLimitStopsEarlyAndSaysThereIsMore) {
  for (int id = 1; id <= 5; ++id) service_.jobs[id] = LabJob(id, v1::JOB_STATE_SUCCEEDED);
  const Result result = Ablate({"list", "--limit", "3"});
  ASSERT_EQ(result.code, kExitOk);
  EXPECT_EQ(Lines(result.out).size(), 4u);
  EXPECT_EQ(result.err, "(the newest 3 jobs are shown; --limit N or --all shows more)\n");
  EXPECT_EQ(service_.list_requests.back().page_size(), 1);
}

TEST_F(CliServerTest, ListAllAsJson) {
  for (int id = 1; id <= 5; ++id) service_.jobs[id] = LabJob(id, v1::JOB_STATE_SUCCEEDED);
  const Result result = Ablate({"list", "--all", "--json"});
  ASSERT_EQ(result.code, kExitOk);
  size_t count = 0;
  for (size_t at = result.out.find("\"owner\""); at != std::string::npos;
       at = result.out.find("\"owner\"", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 5u);
  EXPECT_THAT(result.out, HasSubstr("\"next_page_token\": \"\""));
}

TEST_F(CliServerTest, ListSendsTheFilters) {
  const Result result = Ablate({"list", "--owner", "alice", "--state", "failed,cancelled",
                                "--state", "QUEUED", "--init", "kaiming", "--name", "deep",
                                "--since", "2024-05-01T00:00:00Z", "--until", "2024-05-02"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(result.out, "no jobs found\n");
  const v1::ListJobsRequest& request = service_.list_requests.at(0);
  EXPECT_EQ(request.owner(), "alice");
  EXPECT_THAT(request.states(),
              ElementsAre(v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED, v1::JOB_STATE_QUEUED));
  EXPECT_EQ(request.init(), "kaiming");
  EXPECT_EQ(request.name_contains(), "deep");
  EXPECT_EQ(request.created_after().seconds(), 1714521600);   // 2024-05-01T00:00Z
  EXPECT_EQ(request.created_before().seconds(), 1714694400);  // 2024-05-03T00:00Z (UTC zone)
  EXPECT_EQ(request.page_size(), 50);
}

TEST_F(CliServerTest, ShowAndNotFound) {
  service_.jobs[17] = LabJob(17, v1::JOB_STATE_SUCCEEDED);
  const Result shown = Ablate({"show", "17"});
  ASSERT_EQ(shown.code, kExitOk);
  EXPECT_THAT(shown.out, StartsWith("job 17: lab-01-init-ablation (succeeded)\n"));
  const Result json = Ablate({"show", "17", "--json"});
  EXPECT_THAT(json.out, HasSubstr("\"outcome\": \"diverged at step 9\""));
  const Result missing = Ablate({"show", "99"});
  EXPECT_EQ(missing.code, kExitError);
  EXPECT_EQ(missing.err, "ablate: not found: there is no job 99\n");
}

TEST_F(CliServerTest, TrajectoryCsvAndMaxPoints) {
  service_.trajectory.add_steps(0);
  service_.trajectory.add_losses(0.5f);
  service_.trajectory.add_steps(1);
  service_.trajectory.add_losses(std::numeric_limits<float>::infinity());
  const Result csv = Ablate({"trajectory", "42", "--csv", "--max-points", "100"});
  ASSERT_EQ(csv.code, kExitOk) << csv.err;
  EXPECT_EQ(csv.out, "step,loss,val_loss,val_accuracy\n0,0.5,,\n1,inf,,\n");
  EXPECT_EQ(service_.trajectory_requests.at(0).run_id(), 42);
  EXPECT_EQ(service_.trajectory_requests.at(0).max_points(), 100);
  const Result table = Ablate({"trajectory", "42"});
  EXPECT_THAT(table.out, StartsWith("run 42: 0 steps recorded\n"));
  EXPECT_EQ(service_.trajectory_requests.at(1).max_points(), 0);
}

TEST_F(CliServerTest, CancelSaysWhatHappened) {
  service_.jobs[17] = LabJob(17, v1::JOB_STATE_SUCCEEDED);
  service_.jobs[18] = LabJob(18, v1::JOB_STATE_RUNNING);
  const Result running = Ablate({"cancel", "18"});
  EXPECT_EQ(running.code, kExitOk);
  EXPECT_EQ(running.out, "job 18 cancelled\n");
  const Result done = Ablate({"cancel", "17"});
  EXPECT_EQ(done.code, kExitOk);
  EXPECT_EQ(done.out, "job 17 had already succeeded; nothing to cancel\n");
  // Cancelling again is not "cancelled" again.
  service_.jobs[20] = LabJob(20, v1::JOB_STATE_CANCELLED);
  const Result again = Ablate({"cancel", "20"});
  EXPECT_EQ(again.code, kExitOk);
  EXPECT_EQ(again.out, "job 20 was already cancelled; nothing to cancel\n");
  // Every cancel asks the server, ended jobs included: it decides who may cancel, and a
  // classmate's finished job is refused like a running one.
  EXPECT_EQ(service_.cancel_calls, 3);
  service_.cancel_status =
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "job 17 is ada's: only ada may cancel it");
  const Result refused = Ablate({"cancel", "17"});
  EXPECT_NE(refused.code, kExitOk);
  EXPECT_EQ(refused.out, "");
  EXPECT_THAT(refused.err, HasSubstr("only ada may cancel it"));
  service_.cancel_status = grpc::Status::OK;
  // The server answered before the runs stopped (a run still generating its data, say): the
  // cancel is under way, which is not "nothing to cancel".
  service_.jobs[19] = LabJob(19, v1::JOB_STATE_RUNNING);
  service_.cancel_still_running = true;
  const Result stopping = Ablate({"cancel", "19"});
  EXPECT_EQ(stopping.code, kExitOk);
  EXPECT_EQ(stopping.out,
            "job 19 is stopping (still running); `ablate show 19` will say cancelled once its "
            "runs stop\n");
}

TEST_F(CliServerTest, WatchToTheEnd) {
  ScriptJob17();
  const Result result = Ablate({"watch", "17"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.err, IsEmpty());
  EXPECT_THAT(service_.watch_cursors, ElementsAre(0u));
  EXPECT_THAT(result.out,
              StartsWith("watching job 17 (lab-01-init-ablation): 3 runs (uniform, xavier, "
                         "kaiming), 10 steps each\n"));
  // 81 columns with its run id: the line drops it to fit 80 (the summary below keeps it).
  EXPECT_THAT(result.out,
              HasSubstr("uniform  step 10/10  loss nan          1000 steps/s  diverged at step 9\n"));
  EXPECT_THAT(result.out,
              EndsWith("job 17 (lab-01-init-ablation) succeeded\n"
                       "  uniform  run 1701  diverged at step 9  final loss nan\n"
                       "  xavier   run 1702  completed           final loss 0.691   val loss "
                       "0.69  val acc 50.0%\n"
                       "  kaiming  run 1703  completed           final loss 0.2846  val loss "
                       "0.05  val acc 99.0%\n"));
  EXPECT_THAT(result.out, Not(HasSubstr("\x1b")));
}

TEST_F(CliServerTest, WatchOnATerminalRedrawsInPlace) {
  ScriptJob17();
  const Result result = Ablate({"watch", "17"}, /*terminal=*/true);
  EXPECT_EQ(result.code, kExitOk);
  EXPECT_THAT(result.out, HasSubstr("\x1b[4A"));
  EXPECT_THAT(result.out, HasSubstr("job 17 (lab-01-init-ablation) succeeded\n"));
}

TEST_F(CliServerTest, WatchResumesFromTheCursorAfterTheStreamBreaks) {
  ScriptJob17(v1::JOB_STATE_SUCCEEDED, /*per_update=*/1);  // cursors 1..12
  service_.cut_after = {{0, 3}, {1, 4}};
  const Result result = Ablate({"watch", "17"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  // Resumed right after the last update received each time: nothing missed, nothing twice
  // (WatchState would have failed the watch otherwise).
  EXPECT_THAT(service_.watch_cursors, ElementsAre(0u, 3u, 7u));
  EXPECT_THAT(result.out, HasSubstr("lost the connection to " + server_->address() +
                                    "; reconnecting for up to 60 s\n"));
  EXPECT_THAT(result.out,
              HasSubstr("reconnected to " + server_->address() + "; resuming after update 3\n"));
  EXPECT_THAT(result.out, HasSubstr("job 17 (lab-01-init-ablation) succeeded\n"));
}

TEST_F(CliServerTest, WatchSurvivesAServerRestart) {
  ScriptJob17(v1::JOB_STATE_SUCCEEDED, /*per_update=*/1);
  service_.hang_after = {{0, 4}};
  const int port = server_->port();
  std::thread restart([&] {
    {
      std::unique_lock<std::mutex> lock(service_.mutex);
      service_.watch_hung.wait(lock, [&] { return service_.hung_calls > 0; });
    }
    server_->Stop();  // cancels the open stream, closes the port
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    server_ = std::make_unique<FakeServer>(&service_, port);
  });
  const Result result = Ablate({"watch", "17", "--reconnect-timeout", "20"});
  restart.join();
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(service_.watch_cursors, ElementsAre(0u, 4u));
  EXPECT_THAT(result.out, HasSubstr("reconnected to "));
  EXPECT_THAT(result.out, HasSubstr("job 17 (lab-01-init-ablation) succeeded\n"));
}

TEST_F(CliServerTest, WatchGivesUpAfterTheReconnectTimeout) {
  ScriptJob17();
  service_.cut_after = {{0, 2}};
  std::thread stop = StopTheServerOnceAWatchBegins();
  const std::string address = server_->address();
  const absl::Time start = absl::Now();
  const Result result = Ablate({"watch", "17", "--reconnect-timeout", "0.5"});
  stop.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err, "ablate: lost the connection to the Ablate server at " + address +
                            " and could not reconnect within 0.5 s; resume with: ablate watch "
                            "17\n");
}

// lab that loses its server says how to resume the watch and then get the files it would have
// downloaded (the job goes on without it).
TEST_F(CliServerTest, LabGivesUpAfterTheReconnectTimeoutNamingTheDownload) {
  service_.history =
      TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 2, v1::JOB_STATE_SUCCEEDED);
  service_.cut_after = {{0, 2}};
  std::thread stop = StopTheServerOnceAWatchBegins();
  TempDir dir;
  const std::string out = (dir.path() / "lab").string();
  const Result result = Ablate({"lab", "--out", out, "--reconnect-timeout", "0.5"});
  stop.join();
  EXPECT_EQ(result.code, kExitError);
  EXPECT_THAT(result.err, EndsWith("; resume with: ablate watch 17, then get its files with: "
                                   "ablate download 17 --out " + out + "\n"));
}

TEST_F(CliServerTest, WatchReportsAGapInTheStreamAsAServerBug) {
  ScriptJob17(v1::JOB_STATE_SUCCEEDED, /*per_update=*/2);
  service_.history.erase(service_.history.begin() + 2);  // steps 2-3 of every run never come
  const Result result = Ablate({"watch", "17"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err,
            "ablate: the stream skipped steps 2-3 of run 1701: it sent steps 4-5 when step 2 "
            "was due (a server bug: please report it)\n");
}

TEST_F(CliServerTest, WatchAFailedJobExits3) {
  ScriptJob17(v1::JOB_STATE_FAILED);
  const Result result = Ablate({"watch", "17"});
  EXPECT_EQ(result.code, kExitJobFailed);
  EXPECT_EQ(result.err, "ablate: job 17 failed: the worker ran out of memory\n");
  EXPECT_THAT(result.out, HasSubstr("job 17 (lab-01-init-ablation) failed: the worker ran out"));
}

TEST_F(CliServerTest, WatchACancelledJobExits3) {
  ScriptJob17(v1::JOB_STATE_CANCELLED);
  const Result result = Ablate({"watch", "17"});
  EXPECT_EQ(result.code, kExitJobFailed);
  EXPECT_EQ(result.err, "ablate: job 17 was cancelled\n");
}

TEST_F(CliServerTest, WatchAnUnknownJob) {
  const Result result = Ablate({"watch", "99"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err, "ablate: not found: there is no job 99\n");
  EXPECT_THAT(service_.watch_cursors, IsEmpty());
}

TEST_F(CliServerTest, SubmitAndWatch) {
  // Submitting creates job 17; the script is for job 17.
  service_.history =
      TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 5, v1::JOB_STATE_SUCCEEDED);
  const Result result = Ablate({"submit", "--watch"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, StartsWith("17\nwatching job 17"));
  EXPECT_THAT(result.out, HasSubstr("job 17 (lab-01-init-ablation) succeeded\n"));
}

// submit --watch --json prints one JSON document, the job as it ended; the id goes to stderr.
TEST_F(CliServerTest, SubmitWatchJsonIsOneDocument) {
  service_.history =
      TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 5, v1::JOB_STATE_SUCCEEDED);
  const Result result = Ablate({"submit", "--watch", "--json"});
  EXPECT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.err, StartsWith("submitted job 17\n"));
  EXPECT_THAT(result.out, StartsWith("{\n  \"id\": 17,"));
  EXPECT_THAT(result.out, HasSubstr("\"state\": \"JOB_STATE_SUCCEEDED\""));
  // One top-level object: its only closing brace at the start of a line is the last.
  EXPECT_EQ(result.out.find("\n}"), result.out.size() - 3) << result.out;
}

class DownloadTest : public CliServerTest {
 protected:
  void SetUp() override {
    CliServerTest::SetUp();
    service_.jobs[17] = LabJob(17, v1::JOB_STATE_SUCCEEDED);
    service_.artifacts = {{"job.json", "{\"id\": \"17\"}"},
                          {"losses.json", std::string(1000, 'l')},
                          {"README.md", "# Lab 1\n"},
                          {"empty.txt", ""}};
  }
  TempDir dir_;
};

TEST_F(DownloadTest, WritesWhatTheServerHasAndSkipsTheRest) {
  const std::filesystem::path out = dir_.path() / "nested" / "job17";
  const Result result = Ablate({"download", "17", "--out", out.string()});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(result.out, (out / "job.json").string() + "\n" + (out / "losses.json").string() + "\n" +
                            (out / "README.md").string() + "\n");
  EXPECT_THAT(result.err, IsEmpty());
  EXPECT_EQ(ReadFile(out / "job.json"), "{\"id\": \"17\"}");
  EXPECT_EQ(ReadFile(out / "losses.json"), std::string(1000, 'l'));
  EXPECT_EQ(ReadFile(out / "README.md"), "# Lab 1\n");
  EXPECT_THAT(service_.artifact_requests,
              UnorderedElementsAre("job.json", "losses.json", "loss_curves.png",
                                   "loss_curves_linear.png", "loss_curves_log.png",
                                   "layer_stats.png", "manifest.json", "README.md"));
  size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 3u) << "no temporaries left";
}

// The files come side by side, each on a call of its own (a remote client waits about one
// round trip for them, not one per file); the paths are still printed in the deliverables'
// order.
TEST_F(DownloadTest, FetchesTheFilesSideBySide) {
  service_.chunk_interval = std::chrono::milliseconds(50);  // each file takes a while to come
  const std::filesystem::path out = dir_.path() / "job17";
  const Result result = Ablate({"download", "17", "--out", out.string()});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(result.out, (out / "job.json").string() + "\n" + (out / "losses.json").string() + "\n" +
                            (out / "README.md").string() + "\n");
  std::lock_guard<std::mutex> lock(service_.mutex);
  EXPECT_GT(service_.artifact_calls_at_once_most, 1);
  EXPECT_EQ(service_.artifact_requests.size(), 8u);
}

// --timeout bounds the wait for each piece of a file, not the whole download: a file that
// takes three times the timeout to come, a piece at a time, arrives; one whose server stops
// sending fails after about the timeout, leaving no file.
TEST_F(DownloadTest, ASlowFileArrivesWhileItKeepsComing) {
  service_.artifacts = {{"job.json", std::string(70, 'j')}};
  service_.chunk_size = 7;
  service_.chunk_interval = std::chrono::milliseconds(300);  // 11 chunks: about 3.3 s
  const Result result =
      Ablate({"--timeout", "1", "download", "17", "--out", dir_.path().string()});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(ReadFile(dir_.path() / "job.json"), std::string(70, 'j'));
}

TEST_F(DownloadTest, AFileWhoseServerStopsSendingFailsAfterTheTimeout) {
  service_.artifacts = {{"job.json", std::string(70, 'j')}};
  service_.stall_after_chunks = 2;
  const Result result =
      Ablate({"--timeout", "1", "download", "17", "--out", dir_.path().string()});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_THAT(result.err, HasSubstr("downloading job.json of job 17: the Ablate server at "));
  EXPECT_THAT(result.err, HasSubstr("did not answer within 1 s"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

TEST_F(DownloadTest, ACorruptFileFailsAndLeavesNoFile) {
  service_.corrupt_artifacts = true;
  const Result result = Ablate({"download", "17", "--out", dir_.path().string()});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_THAT(result.err, StartsWith("ablate: job.json arrived corrupted: its SHA-256 is "));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

// A second job downloaded into the same folder replaces the first one's files and removes
// those it has none of, saying so: the folder never holds one job's manifest beside another's
// plot.
TEST_F(DownloadTest, AnEarlierJobsFilesAreReplacedAndTheOnesThisJobLacksRemoved) {
  service_.artifacts["loss_curves_linear.png"] = "old linear";
  ASSERT_EQ(Ablate({"download", "17", "--out", dir_.path().string()}).code, kExitOk);
  service_.artifacts.erase("loss_curves_linear.png");
  service_.artifacts["loss_curves_log.png"] = "new log";
  service_.artifacts["README.md"] = "# Job 18\n";
  service_.jobs[18] = LabJob(18, v1::JOB_STATE_SUCCEEDED);
  const Result result = Ablate({"download", "18", "--out", dir_.path().string()});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, EndsWith("removed " + (dir_.path() / "loss_curves_linear.png").string() +
                                   ": an earlier job's file, and job 18 has none\n"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "loss_curves_linear.png"));
  EXPECT_EQ(ReadFile(dir_.path() / "loss_curves_log.png"), "new log");
  EXPECT_EQ(ReadFile(dir_.path() / "README.md"), "# Job 18\n");
}

// The files are gathered before any is moved into place: a download that fails half-way leaves
// the folder as it was, an earlier job's files whole and unmixed, and no temporary behind.
TEST_F(DownloadTest, AFailedDownloadLeavesTheFolderAsItWas) {
  ASSERT_EQ(Ablate({"download", "17", "--out", dir_.path().string()}).code, kExitOk);
  service_.artifacts["job.json"] = "{\"id\": \"18\"}";
  service_.artifacts["manifest.json"] = "{}";
  service_.corrupt_artifact = "README.md";  // the last one asked for
  const Result result = Ablate({"download", "17", "--out", dir_.path().string()});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_THAT(result.err, HasSubstr("README.md arrived corrupted"));
  EXPECT_EQ(ReadFile(dir_.path() / "job.json"), "{\"id\": \"17\"}");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "manifest.json"));
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(names, UnorderedElementsAre("job.json", "losses.json", "README.md"));
}

// A folder another ablate is writing into is refused at once, and a staging folder left by a
// download that was killed is cleared by the next one.
TEST_F(DownloadTest, AFolderAnotherAblateIsWritingIntoIsRefused) {
  {
    absl::StatusOr<std::unique_ptr<DownloadDir>> held = DownloadDir::Open(dir_.path());
    ASSERT_TRUE(held.ok()) << held.status();
    const Result result = Ablate({"download", "17", "--out", dir_.path().string()});
    EXPECT_EQ(result.code, kExitError);
    EXPECT_EQ(result.err, "ablate: another ablate is writing a job's files into " +
                              dir_.path().string() +
                              ": wait for it to finish, or give another --out\n");
    EXPECT_THAT(service_.artifact_requests, IsEmpty());
  }
  std::filesystem::create_directory(dir_.path() / ".ablate-download-Ab12Cd");
  std::ofstream(dir_.path() / ".ablate-download-Ab12Cd" / ".job.json.part-x1y2z3") << "partial";
  ASSERT_EQ(Ablate({"download", "17", "--out", dir_.path().string()}).code, kExitOk);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / ".ablate-download-Ab12Cd"));
}

TEST_F(DownloadTest, JobJsonIsRequired) {
  service_.artifacts.erase("job.json");
  const Result result = Ablate({"download", "17", "--out", dir_.path().string()});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err,
            "ablate: the server has no job.json for job 17, so there is nothing to download\n");
}

TEST_F(DownloadTest, AnUnfinishedJobIsRefusedClearly) {
  service_.jobs[18] = LabJob(18, v1::JOB_STATE_RUNNING);
  const Result result = Ablate({"download", "18", "--out", dir_.path().string()});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err,
            "ablate: job 18 is still running; its files can be downloaded once it has finished "
            "(ablate watch 18 waits for that)\n");
  EXPECT_THAT(service_.artifact_requests, IsEmpty());
}

TEST_F(DownloadTest, AnUnknownJob) {
  const Result result = Ablate({"download", "99", "--out", dir_.path().string()});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.err, "ablate: not found: there is no job 99\n");
}

TEST_F(CliServerTest, LabSubmitsWatchesDownloadsAndSumsUp) {
  service_.history =
      TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 5, v1::JOB_STATE_SUCCEEDED);
  service_.artifacts = {{"job.json", "{}"}, {"loss_curves.png", "PNG"}, {"README.md", "# 1"}};
  TempDir dir;
  const std::filesystem::path out = dir.path() / "experiments" / "10-init-matters";
  const Result result = Ablate({"lab", "--out", out.string(), "--owner", "bob"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.err, IsEmpty());
  ASSERT_EQ(service_.submits.size(), 1u);
  EXPECT_EQ(service_.submits[0].spec().ByteSizeLong(), 0u) << "the server fills in lab 1";
  EXPECT_EQ(service_.submits[0].owner(), "bob");
  EXPECT_THAT(result.out, StartsWith("submitted lab 1 as job 17: depth 12, width 256"));
  EXPECT_THAT(result.out,
              EndsWith("job 17 (lab-01-init-ablation) succeeded\n"
                       "  uniform  run 1701  diverged at step 9  final loss nan\n"
                       "  xavier   run 1702  completed           final loss 0.691   val loss "
                       "0.69  val acc 50.0%\n"
                       "  kaiming  run 1703  completed           final loss 0.2846  val loss "
                       "0.05  val acc 99.0%\n"
                       "\n" +
                       (out / "job.json").string() + "\n" + (out / "loss_curves.png").string() +
                       "\n" + (out / "README.md").string() + "\n" + "lab 1 deliverables are in " +
                       out.string() + ": job.json, loss_curves.png, README.md\n"));
  EXPECT_EQ(ReadFile(out / "loss_curves.png"), "PNG");
}

// A server lost while lab downloads is waited for, as the watch waits, and the files then come
// whole.
TEST_F(CliServerTest, LabRetriesItsDownloadWhileTheServerIsAway) {
  service_.history =
      TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 5, v1::JOB_STATE_SUCCEEDED);
  service_.artifacts = {{"job.json", "{}"}, {"README.md", "# 1"}};
  service_.unavailable_artifact_calls = 3;
  TempDir dir;
  const std::string out = (dir.path() / "lab").string();
  const Result result = Ablate({"lab", "--out", out, "--reconnect-timeout", "20"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, HasSubstr(" while downloading; retrying for up to 20 s\n"));
  EXPECT_THAT(result.out, HasSubstr("lab 1 deliverables are in " + out + ": job.json, README.md"));
  EXPECT_EQ(ReadFile(std::filesystem::path(out) / "README.md"), "# 1");
}

// Past the reconnect timeout, lab gives up and says how to get the files later.
TEST_F(CliServerTest, LabGivesUpItsDownloadAfterTheReconnectTimeout) {
  service_.history =
      TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 5, v1::JOB_STATE_SUCCEEDED);
  service_.artifacts = {{"job.json", "{}"}};
  service_.unavailable_artifact_calls = 1'000'000;
  TempDir dir;
  const std::string out = (dir.path() / "lab").string();
  const absl::Time start = absl::Now();
  const Result result = Ablate({"lab", "--out", out, "--reconnect-timeout", "0.5"});
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(result.code, kExitError);
  EXPECT_THAT(result.err, EndsWith("; job 17 itself succeeded: retry with: ablate download 17 "
                                   "--out " + out + "\n"));
  EXPECT_GT(service_.artifact_requests.size(), 1u);
}

TEST_F(CliServerTest, LabSeedsAsksTheServerForThatManySeedsPerInit) {
  service_.history =
      TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 5, v1::JOB_STATE_SUCCEEDED);
  service_.artifacts = {{"job.json", "{}"}};
  TempDir dir;
  const Result result = Ablate({"lab", "--out", (dir.path() / "out").string(), "--seeds", "5"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  ASSERT_EQ(service_.submits.size(), 1u);
  EXPECT_EQ(service_.submits[0].spec().seeds(), 5);
  // Nothing else: the server still fills in lab 1.
  v1::JobSpec rest = service_.submits[0].spec();
  rest.clear_seeds();
  EXPECT_EQ(rest.ByteSizeLong(), 0u);
}

TEST_F(CliServerTest, LabRefusesBadSeedsAndDepthsBeforeSubmitting) {
  TempDir dir;
  Result result = Ablate({"lab", "--out", dir.path().string(), "--seeds", "many"});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_THAT(result.err, HasSubstr("--seeds"));
  result = Ablate({"lab", "--out", dir.path().string(), "--verify-depth", "deep"});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_EQ(result.err, "ablate: --verify-depth: expected a number of layers, got 'deep'\n");
  EXPECT_THAT(service_.submits, IsEmpty());
}

// The deeper job of --verify-depth is checked by the server before the first job is submitted:
// a depth or a limit it refuses costs no training.
TEST_F(CliServerTest, LabHasTheServerCheckTheDeeperJobBeforeSubmitting) {
  service_.check_status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                       "model.depth must be between 1 and 64 (got 100).");
  TempDir dir;
  const Result result =
      Ablate({"lab", "--out", dir.path().string(), "--verify-depth", "100", "--owner", "bob"});
  EXPECT_EQ(result.code, kExitUsage) << "a refused spec, as with submit";
  EXPECT_EQ(result.err,
            "ablate: --verify-depth 100: the server refused the request: model.depth must be "
            "between 1 and 64 (got 100) (nothing was submitted)\n");
  EXPECT_THAT(service_.submits, IsEmpty());
  ASSERT_EQ(service_.checks.size(), 1u);
  EXPECT_EQ(service_.checks[0].spec().model().depth(), 100);
  EXPECT_EQ(service_.checks[0].owner(), "bob");
}

// --out is checked before anything trains: a file, or a folder another ablate is writing
// into, fails without a job submitted; so does a depth of no layers.
TEST_F(CliServerTest, LabRefusesAnUnusableOutBeforeSubmitting) {
  TempDir dir;
  const std::filesystem::path file = dir.path() / "afile";
  std::ofstream(file) << "x";
  Result result = Ablate({"lab", "--out", file.string()});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_EQ(result.err,
            "ablate: " + file.string() + " exists and is not a directory: give another --out\n");
  absl::StatusOr<std::unique_ptr<DownloadDir>> held = DownloadDir::Open(dir.path());
  ASSERT_TRUE(held.ok()) << held.status();
  result = Ablate({"lab", "--out", dir.path().string()});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_THAT(result.err, HasSubstr("another ablate is writing a job's files into"));
  result = Ablate({"lab", "--out", (dir.path() / "q4").string(), "--verify-depth", "0"});
  EXPECT_EQ(result.code, kExitUsage);
  EXPECT_EQ(result.err, "ablate: --verify-depth: expected at least 1 layer, got 0\n");
  EXPECT_THAT(service_.submits, IsEmpty());
}

// lab --json prints one document, {"jobs": [...]}, as list --json does; the story goes to
// stderr.
TEST_F(CliServerTest, LabJsonIsOneDocument) {
  service_.history =
      TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 5, v1::JOB_STATE_SUCCEEDED);
  service_.artifacts = {{"job.json", "{}"}};
  TempDir dir;
  const Result result = Ablate({"lab", "--out", (dir.path() / "out").string(), "--json"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_THAT(result.out, StartsWith("{\n  \"jobs\": [\n    {\n      \"id\": 17,"));
  // One top-level object: its only closing brace at the start of a line is the last.
  EXPECT_EQ(result.out.find("\n}"), result.out.size() - 3) << result.out;
  EXPECT_THAT(result.err, HasSubstr("submitted lab 1 as job 17"));
}

TEST_F(CliServerTest, LabVerifyDepthRunsTheSameJobDeeperAfterTheFirst) {
  service_.history =
      TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 5, v1::JOB_STATE_SUCCEEDED);
  service_.artifacts = {{"job.json", "{}"}};
  TempDir dir;
  const std::filesystem::path out = dir.path() / "lab";
  const Result result =
      Ablate({"lab", "--out", out.string(), "--verify-depth", "24", "--seeds", "2"});
  // The fake server replays job 17's history for any job, so the second job's stream is
  // refused as another job's; what matters here is what was asked of the server, and when.
  ASSERT_EQ(service_.submits.size(), 2u) << result.err;
  EXPECT_FALSE(service_.submits[0].spec().model().has_depth());
  EXPECT_EQ(service_.submits[0].spec().seeds(), 2);
  EXPECT_EQ(service_.submits[1].spec().model().depth(), 24);
  EXPECT_EQ(service_.submits[1].spec().seeds(), 2);
  EXPECT_THAT(result.out, HasSubstr("question 4: the same job at depth 24"));
  EXPECT_TRUE(std::filesystem::exists(out / "job.json"));
}

TEST(LabReportTest, ReadsTheManifestsFindingsAndPrintsThem) {
  const absl::StatusOr<LabFindings> findings = ParseLabFindings(R"json({
    "job": {"id": 18},
    "results_summary": {
      "depth_outcomes": [
        {"init": "uniform", "depth": 24, "regime": "explodes", "expected": "a non-finite loss",
         "observed": "it diverged (first NaN/inf at step 0)", "held": true},
        {"init": "kaiming", "depth": 24, "regime": "keeps its scale", "expected": "it trains",
         "observed": "its loss went from 0.69 to 0.3", "held": false}],
      "seeds": [
        {"init": "kaiming", "runs": 5, "final_loss": {"n": 5, "min": 0.001, "median": 0.002,
         "max": 0.01}, "val_loss": null, "val_accuracy": {"n": 5, "min": 0.52, "median": 0.6,
         "max": 0.66}, "first_nonfinite_step": null, "diverged": 0, "generalised": 2,
         "memorised": 3}]}})json");
  ASSERT_TRUE(findings.ok()) << findings.status();
  EXPECT_EQ(findings->job_id, 18);
  ASSERT_EQ(findings->depth_outcomes.size(), 2u);
  EXPECT_EQ(findings->depth_outcomes[0].held, true);
  EXPECT_EQ(findings->depth_outcomes[1].held, false);
  ASSERT_EQ(findings->seeds.size(), 1u);
  EXPECT_FALSE(findings->seeds[0].val_loss.has_value());
  EXPECT_DOUBLE_EQ(findings->seeds[0].final_loss->median, 0.002);
  const std::string text = FormatLabFindings(*findings);
  EXPECT_THAT(text, HasSubstr("depth 24, what each init's variance gain predicts"));
  EXPECT_THAT(text, HasSubstr("uniform: explodes, expected a non-finite loss; it diverged (first "
                              "NaN/inf at step 0) — held\n"));
  EXPECT_THAT(text, HasSubstr("kaiming: keeps its scale, expected it trains; its loss went from "
                              "0.69 to 0.3 — did NOT hold\n"));
  EXPECT_THAT(text, HasSubstr("kaiming (5 runs): final train loss 0.002 [0.001–0.01], val loss "
                              "—, val accuracy 60.0% [52.0%–66.0%]; diverged 0; generalised 2, "
                              "memorised 3\n"));
  EXPECT_FALSE(ParseLabFindings("not json").ok());
  EXPECT_FALSE(ParseLabFindings("{}").ok());
}

TEST_F(CliServerTest, LabWhoseJobFailsDownloadsNothingAndExits3) {
  service_.history = TrainingHistory(LabJob(17, v1::JOB_STATE_QUEUED), 10, 5, v1::JOB_STATE_FAILED);
  TempDir dir;
  const Result result = Ablate({"lab", "--out", (dir.path() / "out").string()});
  EXPECT_EQ(result.code, kExitJobFailed);
  EXPECT_EQ(result.err, "ablate: job 17 failed: the worker ran out of memory\n");
  EXPECT_THAT(service_.artifact_requests, IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out"));
}

}  // namespace
}  // namespace ablate::client
