#include "client/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "tests/client/fake_server.h"

namespace ablate::client {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::LabJob;
using ::testing::Not;
using testing::TrainingHistory;

RunProgress Running(const std::string& init, int64_t id, int steps_seen, float loss) {
  RunProgress run;
  run.run_id = id;
  run.init = init;
  run.total_steps = 1000;
  run.state = v1::RUN_STATE_RUNNING;
  run.steps_seen = steps_seen;
  run.last_loss = loss;
  run.recent_step_seconds = {0.002f, 0.002f};
  run.recent_seconds_sum = 0.004;
  return run;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(FormatProgressLine, Queued) {
  RunProgress run;
  run.run_id = 43;
  run.init = "xavier";
  run.total_steps = 1000;
  EXPECT_EQ(FormatProgressLine(run, 7), "xavier   run 43  queued");
}

TEST(FormatProgressLine, Running) {
  EXPECT_EQ(FormatProgressLine(Running("kaiming", 44, 512, 0.123456f), 7),
            "kaiming  run 44  step  512/1000  loss 0.1235        500 steps/s");
}

TEST(FormatProgressLine, RunningWithValidation) {
  RunProgress run = Running("kaiming", 44, 51, 0.5f);
  v1::EvalResult eval;
  eval.set_loss(0.25f);
  eval.set_accuracy(0.965f);
  run.last_eval = eval;
  EXPECT_EQ(
      FormatProgressLine(run, 7, /*max_width=*/0),
      "kaiming  run 44  step   51/1000  loss 0.5           500 steps/s  val 0.25       96.5%");
  // In 80 columns the run id goes first.
  EXPECT_EQ(FormatProgressLine(run, 7),
            "kaiming  step   51/1000  loss 0.5           500 steps/s  val 0.25       96.5%");
}

// A long job (100,000 steps, the longest init name, a class server's run ids, a diverged run
// with validation) still fits an 80-column terminal, keeping its step count and outcome.
TEST(FormatProgressLine, ALongJobFitsEightyColumns) {
  RunProgress run = Running("kaiming_uniform", 1234567, 99999, 1.2345e-5f);
  run.total_steps = 100000;
  v1::EvalResult eval;
  eval.set_loss(std::numeric_limits<float>::infinity());
  eval.set_accuracy(0.1f);
  run.last_eval = eval;
  const std::string running = FormatProgressLine(run, 15);
  EXPECT_LE(running.size(), 79u) << running;
  EXPECT_THAT(running, HasSubstr("step  99999/100000"));
  run.state = v1::RUN_STATE_DIVERGED;
  v1::Run summary;
  summary.set_state(v1::RUN_STATE_DIVERGED);
  summary.set_outcome("diverged at step 99998");
  run.summary = summary;
  const std::string ended = FormatProgressLine(run, 15);
  EXPECT_LE(ended.size(), 79u) << ended;
  EXPECT_THAT(ended, AllOf(HasSubstr("step  99999/100000"), HasSubstr("diverged at step 99998")));
}

TEST(FormatProgressLine, FinishedShowsTheOutcome) {
  RunProgress run = Running("uniform", 42, 21, std::numeric_limits<float>::quiet_NaN());
  run.state = v1::RUN_STATE_DIVERGED;
  v1::Run summary;
  summary.set_state(v1::RUN_STATE_DIVERGED);
  summary.set_outcome("diverged at step 20");
  summary.set_steps_per_second(812.4);
  run.summary = summary;
  EXPECT_EQ(FormatProgressLine(run, 7, /*max_width=*/0),
            "uniform  run 42  step   21/1000  loss nan           812 steps/s  "
            "diverged at step 20");
  // 81 columns: in 80 the run id goes.
  EXPECT_EQ(FormatProgressLine(run, 7),
            "uniform  step   21/1000  loss nan           812 steps/s  diverged at step 20");
}

TEST(FormatJobSummary, OneAlignedLinePerRunAfterTheJobsState) {
  const v1::Job job = LabJob(17, v1::JOB_STATE_SUCCEEDED, 10);
  EXPECT_EQ(FormatJobSummary(job),
            "job 17 (lab-01-init-ablation) succeeded\n"
            "  uniform  run 1701  diverged at step 9  final loss nan\n"
            "  xavier   run 1702  completed           final loss 0.691   val loss 0.69  "
            "val acc 50.0%\n"
            "  kaiming  run 1703  completed           final loss 0.2846  val loss 0.05  "
            "val acc 99.0%\n");
}

TEST(FormatJobResult, FailedJobIncludesTheError) {
  EXPECT_EQ(FormatJobResult(LabJob(3, v1::JOB_STATE_FAILED)),
            "job 3 (lab-01-init-ablation) failed: the worker ran out of memory");
}

class DisplayTest : public ::testing::Test {
 protected:
  DisplayTest()
      : job_(LabJob(17, v1::JOB_STATE_QUEUED, 10)),
        history_(TrainingHistory(job_, 10, 1, v1::JOB_STATE_SUCCEEDED)),
        state_(job_) {}

  const v1::Job job_;
  const std::vector<v1::JobUpdate> history_;
  WatchState state_;
  std::ostringstream out_;
  const absl::Time t0_ = absl::FromUnixSeconds(1000);
};

TEST_F(DisplayTest, LogModeAppendsAtMostOneLinePerRunPerSecond) {
  ProgressDisplay display(out_, ProgressDisplay::Mode::kLog);
  display.Begin(state_, t0_);
  EXPECT_EQ(out_.str(),
            "watching job 17 (lab-01-init-ablation): 3 runs (uniform, xavier, kaiming), 10 "
            "steps each\n");
  out_.str("");
  // Updates 0 (runs started) .. 5 (step 4) within the same half second: one line per run when
  // it starts; the steps that follow wait for the next second.
  for (int i = 0; i <= 5; ++i) {
    ASSERT_TRUE(state_.Apply(history_[i]).ok());
    display.Update(state_, t0_ + absl::Milliseconds(100 * i));
  }
  EXPECT_THAT(Lines(out_.str()),
              ElementsAre("uniform  run 1701  step  0/10", "xavier   run 1702  step  0/10",
                          "kaiming  run 1703  step  0/10"));
  out_.str("");
  ASSERT_TRUE(state_.Apply(history_[6]).ok());
  display.Update(state_, t0_ + absl::Milliseconds(1100));
  std::vector<std::string> lines = Lines(out_.str());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("step  6/10"));
  // Nothing new, nothing printed.
  out_.str("");
  display.Update(state_, t0_ + absl::Seconds(5));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(DisplayTest, LogModeFinishPrintsFinalLinesAndTheSummary) {
  ProgressDisplay display(out_, ProgressDisplay::Mode::kLog);
  display.Begin(state_, t0_);
  for (const v1::JobUpdate& update : history_) {
    ASSERT_TRUE(state_.Apply(update).ok());
    if (!state_.finished()) display.Update(state_, t0_);
  }
  out_.str("");
  display.Finish(state_, t0_);
  const std::vector<std::string> lines = Lines(out_.str());
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_THAT(lines[0], HasSubstr("step 10/10"));
  EXPECT_THAT(lines[0], HasSubstr("diverged at step 9"));
  EXPECT_EQ(lines[3], "job 17 (lab-01-init-ablation) succeeded");
  EXPECT_THAT(lines[4], HasSubstr("uniform  run 1701  diverged at step 9  final loss nan"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("\x1b")));
}

TEST_F(DisplayTest, LogModeNoticesAreTheirOwnLines) {
  ProgressDisplay display(out_, ProgressDisplay::Mode::kLog);
  display.Begin(state_, t0_);
  out_.str("");
  display.Notice(state_, "lost the connection", t0_);
  EXPECT_EQ(out_.str(), "lost the connection\n");
}

TEST_F(DisplayTest, TerminalModeRedrawsTheRegionInPlace) {
  ProgressDisplay display(out_, ProgressDisplay::Mode::kTerminal, 120);
  display.Begin(state_, t0_);
  EXPECT_EQ(out_.str(),
            "\r\x1b[2Kjob 17 (lab-01-init-ablation): queued\n"
            "\r\x1b[2Kuniform  run 1701  queued\n"
            "\r\x1b[2Kxavier   run 1702  queued\n"
            "\r\x1b[2Kkaiming  run 1703  queued\n");
  out_.str("");
  ASSERT_TRUE(state_.Apply(history_[0]).ok());
  ASSERT_TRUE(state_.Apply(history_[1]).ok());
  display.Update(state_, t0_ + absl::Milliseconds(50));  // too soon: throttled
  EXPECT_EQ(out_.str(), "");
  display.Update(state_, t0_ + absl::Milliseconds(150));
  const std::string frame = out_.str();
  EXPECT_EQ(frame.rfind("\x1b[4A", 0), 0u) << "moves up over the 4 lines drawn";
  EXPECT_THAT(frame, HasSubstr("\r\x1b[2Kjob 17 (lab-01-init-ablation): running\n"));
  EXPECT_THAT(frame, HasSubstr("\r\x1b[2Kuniform  run 1701  step  1/10  loss 2"));
}

TEST_F(DisplayTest, TerminalModeCutsLinesToTheWidth) {
  ProgressDisplay display(out_, ProgressDisplay::Mode::kTerminal, 24);
  display.Begin(state_, t0_);
  for (const std::string& line : Lines(out_.str())) {
    const std::string text = line.substr(line.find("\x1b[2K") + 4);
    EXPECT_LE(text.size(), 23u) << text;
  }
  EXPECT_THAT(out_.str(), HasSubstr("job 17 (lab-01-init-ab~"));
}

TEST_F(DisplayTest, TerminalModeNoticeShowsInTheHeader) {
  ProgressDisplay display(out_, ProgressDisplay::Mode::kTerminal, 200);
  display.Begin(state_, t0_);
  out_.str("");
  display.Notice(state_, "lost the connection to x:1; reconnecting", t0_);
  EXPECT_THAT(out_.str(),
              HasSubstr("job 17 (lab-01-init-ablation): queued - lost the connection to x:1; "
                        "reconnecting\n"));
}

TEST_F(DisplayTest, SummaryCanBeLeftToTheCaller) {
  ProgressDisplay display(out_, ProgressDisplay::Mode::kLog);
  display.set_print_summary(false);
  display.Begin(state_, t0_);
  for (const v1::JobUpdate& update : history_) ASSERT_TRUE(state_.Apply(update).ok());
  display.Finish(state_, t0_);
  EXPECT_THAT(out_.str(), Not(HasSubstr("succeeded")));
}

}  // namespace
}  // namespace ablate::client
