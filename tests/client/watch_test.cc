#include "client/watch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/cli.h"
#include "fake_server.h"

// WatchJob itself runs against a fake server in cli_test.cc (resumption, restarts, giving up).

namespace ablate::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Backoff, DoublesFromTheFirstWaitUpToTheLast) {
  Backoff backoff(absl::Milliseconds(200), absl::Seconds(2));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(400));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(1600));
  EXPECT_EQ(backoff.Next(), absl::Seconds(2));
  EXPECT_EQ(backoff.Next(), absl::Seconds(2));
}

TEST(Backoff, ResetStartsOver) {
  Backoff backoff(absl::Milliseconds(200), absl::Seconds(2));
  backoff.Next();
  backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
}

// The default that `ablate COMMAND --help` states for --reconnect-timeout, in seconds, with the
// help's line wrapping undone; -1 when the help states none.
int HelpedReconnectTimeout(const std::string& command) {
  std::ostringstream out, err;
  CliEnvironment env;
  env.out = &out;
  env.err = &err;
  if (RunCli({"ablate", command, "--help"}, env) != 0) return -1;
  const std::string help = std::regex_replace(out.str(), std::regex(R"(\s+)"), " ");
  std::smatch match;
  if (!std::regex_search(help, match,
                         std::regex(R"(--reconnect-timeout SECONDS [^-]*\(default ([0-9]+)\))"))) {
    ADD_FAILURE() << "no default for --reconnect-timeout in `ablate " << command << " --help`:\n"
                  << out.str();
    return -1;
  }
  return std::stoi(match[1]);
}

TEST(WatchOptions, DefaultsMatchTheHelp) {
  // Every command that follows a job states the same reconnection default as WatchOptions has.
  const WatchOptions options;
  for (const std::string command : {"watch", "submit", "lab"}) {
    EXPECT_EQ(absl::Seconds(HelpedReconnectTimeout(command)), options.reconnect_timeout) << command;
  }
  // The backoff is not a flag (the help does not mention it): the header states it.
  EXPECT_EQ(options.initial_backoff, absl::Milliseconds(100));
  EXPECT_EQ(options.max_backoff, absl::Milliseconds(400));
}

// What WatchJob of job 17 against `service` returned, waited and logged (with waits recorded,
// not slept).
struct Watched {
  absl::StatusOr<v1::Job> job;
  std::vector<absl::Duration> waits;
  std::string log;
};
Watched WatchJob17(testing::FakeAblation& service) {
  testing::FakeServer server(&service);
  ConnectionOptions connection_options;
  connection_options.server = server.address();
  Connection connection(connection_options);
  Watched watched;
  WatchOptions options;
  options.sleep = [&watched](absl::Duration d) { watched.waits.push_back(d); };
  std::ostringstream out;
  ProgressDisplay display(out, ProgressDisplay::Mode::kLog);
  watched.job = WatchJob(connection, 17, options, display);
  watched.log = out.str();
  return watched;
}

// A server that drops the stream again and again, answering in between (a server killed and
// restarted in a loop): each loss starts waiting from the first step, because the server answered
// since the last one, even though no update came through.
TEST(WatchJob, EveryReconnectStartsTheBackoffOver) {
  testing::FakeAblation service;
  const v1::Job job = testing::LabJob(17, v1::JOB_STATE_SUCCEEDED);
  service.jobs[17] = job;
  service.history = testing::TrainingHistory(job, 4, 1, v1::JOB_STATE_SUCCEEDED);
  service.cut_after = {{0, 0}, {1, 0}, {2, 0}, {3, 0}};
  const Watched watched = WatchJob17(service);
  ASSERT_TRUE(watched.job.ok()) << watched.job.status();
  EXPECT_EQ(watched.job->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(watched.waits, std::vector<absl::Duration>(4, WatchOptions().initial_backoff));
}

// A queued job's place in the queue is shown while it waits, each change in a terminal, in a log
// at most every kQueueLogInterval and when the job is next; then the stream shows its runs.
TEST(WatchJob, AQueuedJobShowsItsPlaceUntilItStarts) {
  testing::FakeAblation service;
  const v1::Job job = testing::LabJob(17, v1::JOB_STATE_SUCCEEDED);
  service.jobs[17] = job;
  service.history = testing::TrainingHistory(job, 4, 1, v1::JOB_STATE_SUCCEEDED);
  for (int ahead : {12, 11, 1, 0, -1}) {
    v1::Job queued = testing::LabJob(17, v1::JOB_STATE_QUEUED);
    if (ahead >= 0) queued.set_runs_ahead(ahead);
    if (ahead < 0) queued.set_state(v1::JOB_STATE_RUNNING);
    service.get_job_script.push_back(queued);
  }
  const Watched watched = WatchJob17(service);
  ASSERT_TRUE(watched.job.ok()) << watched.job.status();
  EXPECT_EQ(watched.job->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(watched.waits, std::vector<absl::Duration>(4, WatchOptions().queue_poll_interval));
  const std::string& log = watched.log;
  EXPECT_THAT(log, HasSubstr("waiting for a worker: 12 runs of the queue start before this "
                             "job's\n"));
  EXPECT_THAT(log, Not(HasSubstr("11 runs"))) << "within kQueueLogInterval of the last line";
  EXPECT_THAT(log, HasSubstr("waiting for a worker: this job's runs start next\n"));
  EXPECT_EQ(service.watch_cursors, std::vector<uint64_t>{0});
}

}  // namespace
}  // namespace ablate::client
