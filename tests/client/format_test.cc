#include "client/format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "client/class_report.h"
#include "tests/client/fake_server.h"

namespace ablate::client {
namespace {

using ::testing::HasSubstr;
using testing::LabJob;
using ::testing::Not;
using ::testing::StartsWith;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(FormatLoss, FourSignificantDigitsAndNamedNonFinites) {
  EXPECT_EQ(FormatLoss(0.693147), "0.6931");
  EXPECT_EQ(FormatLoss(23.456), "23.46");
  EXPECT_EQ(FormatLoss(123456), "1.235e+05");
  EXPECT_EQ(FormatLoss(0), "0");
  EXPECT_EQ(FormatLoss(kNaN), "nan");
  EXPECT_EQ(FormatLoss(-kNaN), "nan");
  EXPECT_EQ(FormatLoss(kInf), "inf");
  EXPECT_EQ(FormatLoss(-kInf), "-inf");
}

TEST(FormatLossExact, ShortestTextThatReadsBackExactly) {
  for (float loss : {0.6931472f, 1e-7f, 3.4028235e38f, 0.1f, 2.0f, 1234567.9f}) {
    const std::string text = FormatLossExact(loss);
    EXPECT_EQ(std::stof(text), loss) << text;
  }
  EXPECT_EQ(FormatLossExact(0.1f), "0.1");
  EXPECT_EQ(FormatLossExact(2.0f), "2");
  EXPECT_EQ(FormatLossExact(kNaN), "nan");
  EXPECT_EQ(FormatLossExact(kInf), "inf");
  EXPECT_EQ(FormatLossExact(-kInf), "-inf");
}

TEST(TrajectoryCsv, HeaderThenOneRowPerPoint) {
  v1::GetTrajectoryResponse trajectory;
  const int steps[] = {0, 1, 2, 3, 7};
  const float losses[] = {0.5f, 0.25f, kInf, -kInf, kNaN};
  for (int i = 0; i < 5; ++i) {
    trajectory.add_steps(steps[i]);
    trajectory.add_losses(losses[i]);
  }
  EXPECT_EQ(TrajectoryCsv(trajectory),
            "step,loss,val_loss,val_accuracy\n"
            "0,0.5,,\n"
            "1,0.25,,\n"
            "2,inf,,\n"
            "3,-inf,,\n"
            "7,nan,,\n");
  EXPECT_EQ(TrajectoryCsv(v1::GetTrajectoryResponse()), "step,loss,val_loss,val_accuracy\n");
}

TEST(TrajectoryCsv, ValidationInTheRowOfItsStepAndAfterTheLast) {
  v1::GetTrajectoryResponse trajectory;
  for (int s = 0; s < 3; ++s) {
    trajectory.add_steps(s);
    trajectory.add_losses(0.5f);
  }
  v1::EvalResult* first = trajectory.add_evals();
  first->set_step(1);
  first->set_loss(0.75f);
  first->set_accuracy(0.5f);
  v1::EvalResult* last = trajectory.add_evals();
  last->set_step(3);  // after the last update: no training loss at this step
  last->set_loss(0.25f);
  last->set_accuracy(0.875f);
  EXPECT_EQ(TrajectoryCsv(trajectory),
            "step,loss,val_loss,val_accuracy\n"
            "0,0.5,,\n"
            "1,0.5,0.75,0.5\n"
            "2,0.5,,\n"
            "3,,0.25,0.875\n");
}

// Jobs sort by their best run's value; NaN and missing values go last, ties keep their order.
TEST(SortJobs, ByTheBestRunsFinalOrValidationLossMissingLast) {
  auto job = [](int64_t id, std::vector<std::optional<float>> finals, std::optional<float> val) {
    v1::Job j;
    j.set_id(id);
    for (const std::optional<float>& f : finals) {
      v1::Run* run = j.add_runs();
      if (f) run->set_final_loss(*f);
      if (val) run->mutable_final_eval()->set_loss(*val);
    }
    return j;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<v1::Job> jobs = {job(5, {nan, 2.0f}, 3.0f), job(4, {}, std::nullopt),
                               job(3, {0.5f, 9.0f}, 1.0f), job(2, {2.0f}, std::nullopt),
                               job(1, {nan}, nan)};
  auto ids = [&jobs] {
    std::vector<int64_t> out;
    for (const v1::Job& j : jobs) out.push_back(j.id());
    return out;
  };
  SortJobs(jobs, JobSortKey::kFinalLoss);
  EXPECT_EQ(ids(), (std::vector<int64_t>{3, 5, 2, 4, 1}));
  SortJobs(jobs, JobSortKey::kValLoss);
  EXPECT_EQ(ids(), (std::vector<int64_t>{3, 5, 2, 4, 1}));
  EXPECT_EQ(ParseJobSortKey("final"), JobSortKey::kFinalLoss);
  EXPECT_EQ(ParseJobSortKey("val"), JobSortKey::kValLoss);
  EXPECT_EQ(ParseJobSortKey("loss"), std::nullopt);
}

// One JSON casing everywhere (the .proto's snake_case, as job.json and manifest.json), and
// 64-bit integers as numbers where a double holds them exactly.
TEST(ToJson, SnakeCaseAndExactIntegersAsNumbers) {
  v1::Job job;
  job.set_id(17);
  job.mutable_spec()->mutable_data()->set_seed((uint64_t{1} << 53) + 1);  // too big: a string
  v1::RunSpec* run = job.mutable_spec()->add_runs();
  run->set_init("xavier");
  run->set_weight_seed(uint64_t{1} << 53);
  v1::Run* r = job.add_runs();
  r->set_id(-5);
  r->set_first_nonfinite_step(3);
  r->set_final_loss(std::numeric_limits<float>::quiet_NaN());
  const std::string json = ToJson(job);
  EXPECT_THAT(json, HasSubstr("\"id\": 17,"));
  EXPECT_THAT(json, HasSubstr("\"id\": -5,"));
  EXPECT_THAT(json, HasSubstr("\"weight_seed\": 9007199254740992"));
  EXPECT_THAT(json, HasSubstr("\"seed\": \"9007199254740993\""));
  EXPECT_THAT(json, HasSubstr("\"first_nonfinite_step\": 3"));
  EXPECT_THAT(json, HasSubstr("\"final_loss\": \"NaN\""));
  EXPECT_THAT(json, HasSubstr("\"steps_done\": 0"));  // defaults printed for scripts
  EXPECT_THAT(json, Not(HasSubstr("firstNonfiniteStep")));
  // A run that is not uniform carries no bounds.
  EXPECT_THAT(json, Not(HasSubstr("uniform_low")));
  EXPECT_EQ(json.back(), '\n');
}

TEST(JobStateNames, RoundTripAndIgnoreCase) {
  for (v1::JobState state : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED,
                             v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED}) {
    EXPECT_EQ(ParseJobStateName(JobStateName(state)), state);
  }
  EXPECT_EQ(ParseJobStateName(" Failed "), v1::JOB_STATE_FAILED);
  EXPECT_FALSE(ParseJobStateName("done").has_value());
  EXPECT_FALSE(ParseJobStateName("unspecified").has_value());
}

TEST(CompactOutcome, FromTheRunsStructuredFields) {
  v1::Run run;
  run.set_state(v1::RUN_STATE_COMPLETED);
  EXPECT_EQ(CompactOutcome(run), "completed");
  run.set_flatline_step(412);
  EXPECT_EQ(CompactOutcome(run), "flatlined@412");
  run.clear_flatline_step();
  run.set_first_nonfinite_step(30);
  EXPECT_EQ(CompactOutcome(run), "nonfinite@30");
  run.set_state(v1::RUN_STATE_DIVERGED);
  run.set_first_nonfinite_step(20);
  EXPECT_EQ(CompactOutcome(run), "diverged@20");
  run.set_state(v1::RUN_STATE_CANCELLED);
  run.set_steps_done(300);
  EXPECT_EQ(CompactOutcome(run), "cancelled@300");
  run.set_state(v1::RUN_STATE_RUNNING);
  run.set_steps_done(512);
  EXPECT_EQ(CompactOutcome(run), "running@512");
  run.set_state(v1::RUN_STATE_QUEUED);
  EXPECT_EQ(CompactOutcome(run), "queued");
  run.set_state(v1::RUN_STATE_FAILED);
  EXPECT_EQ(CompactOutcome(run), "failed");
}

class ParseTimeFlagTest : public ::testing::Test {
 protected:
  absl::TimeZone berlin_;
  void SetUp() override {
    // A fixed-offset zone keeps the test independent of the machine's zone database.
    berlin_ = absl::FixedTimeZone(2 * 3600);
  }
  absl::Time Utc(int y, int mo, int d, int h, int mi, int s) {
    return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
  }
};

TEST_F(ParseTimeFlagTest, DateIsMidnightInTheZone) {
  absl::StatusOr<absl::Time> t = ParseTimeFlag("--since", "2024-05-01", berlin_, false);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, Utc(2024, 4, 30, 22, 0, 0));
}

TEST_F(ParseTimeFlagTest, UntilADateIncludesThatDay) {
  absl::StatusOr<absl::Time> t = ParseTimeFlag("--until", "2024-05-01", berlin_, true);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, Utc(2024, 5, 1, 22, 0, 0));
}

TEST_F(ParseTimeFlagTest, DateAndTimeForms) {
  EXPECT_EQ(*ParseTimeFlag("--since", "2024-05-01T14:30", berlin_, false),
            Utc(2024, 5, 1, 12, 30, 0));
  EXPECT_EQ(*ParseTimeFlag("--since", "2024-05-01 14:30:15", berlin_, false),
            Utc(2024, 5, 1, 12, 30, 15));
  EXPECT_EQ(*ParseTimeFlag("--since", "2024-05-01T14:30:15Z", berlin_, false),
            Utc(2024, 5, 1, 14, 30, 15));
  EXPECT_EQ(*ParseTimeFlag("--since", "2024-05-01T14:30:15.5+01:00", berlin_, false),
            Utc(2024, 5, 1, 13, 30, 15) + absl::Milliseconds(500));
  EXPECT_EQ(*ParseTimeFlag("--since", "2024-05-01T14:30-03:00", berlin_, false),
            Utc(2024, 5, 1, 17, 30, 0));
  // A time of day given to --until is taken as is.
  EXPECT_EQ(*ParseTimeFlag("--until", "2024-05-01T14:30Z", berlin_, true),
            Utc(2024, 5, 1, 14, 30, 0));
}

TEST_F(ParseTimeFlagTest, BadInputNamesTheFlagAndShowsExamples) {
  for (const char* text : {"yesterday", "2024-13-01", "2024-05-01T25:00", "05/01/2024",
                           "2024-05-01T14:30:00Zjunk", ""}) {
    absl::StatusOr<absl::Time> t = ParseTimeFlag("--since", text, berlin_, false);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().message(),
              absl::StrCat("--since: '", text,
                           "' is not an ISO-8601 date or time (e.g. 2024-05-01, "
                           "2024-05-01T14:30 or 2024-05-01T14:30:00Z)"));
  }
}

TEST(FormatTimestamp, MinutesInTheZoneOrADash) {
  google::protobuf::Timestamp t;
  EXPECT_EQ(FormatTimestamp(t, absl::UTCTimeZone()), "-");
  t.set_seconds(1714564800);  // 2024-05-01T12:00:00Z
  EXPECT_EQ(FormatTimestamp(t, absl::UTCTimeZone()), "2024-05-01 12:00");
  EXPECT_EQ(FormatTimestamp(t, absl::FixedTimeZone(2 * 3600)), "2024-05-01 14:00");
}

TEST(ToTimestamp, FloorsToSecondsWithNonNegativeNanos) {
  google::protobuf::Timestamp t = ToTimestamp(absl::FromUnixMillis(1714564800250));
  EXPECT_EQ(t.seconds(), 1714564800);
  EXPECT_EQ(t.nanos(), 250000000);
  t = ToTimestamp(absl::FromUnixMillis(-1500));
  EXPECT_EQ(t.seconds(), -2);
  EXPECT_EQ(t.nanos(), 500000000);
}

TEST(HumanDuration, Readable) {
  EXPECT_EQ(HumanDuration(absl::Milliseconds(1500)), "1.5 s");
  EXPECT_EQ(HumanDuration(absl::Seconds(125)), "2 min 5 s");
  EXPECT_EQ(HumanDuration(absl::Seconds(3 * 3600 + 7 * 60 + 9)), "3 h 7 min");
}

TEST(Truncate, CountsCodePointsAndMarksTheCut) {
  EXPECT_EQ(Truncate("abcdef", 6), "abcdef");
  EXPECT_EQ(Truncate("abcdef", 4), "abc~");
  EXPECT_EQ(Truncate("\xc3\xa9t\xc3\xa9 2024", 4), "\xc3\xa9t\xc3\xa9~");  // "été~"
  EXPECT_EQ(DisplayWidth("\xc3\xa9t\xc3\xa9"), 3u);
  EXPECT_EQ(Truncate("abc", 0), "");
}

TEST(FormatTable, PadsColumnsAndAlignsNumbersRight) {
  EXPECT_EQ(FormatTable({{"ID", "NAME"}, {"7", "a"}, {"123", "longer"}}, {0}),
            " ID  NAME\n"
            "  7  a\n"
            "123  longer\n");
}

TEST(FormatJobList, HeaderAndOneRowPerJob) {
  const v1::Job done = LabJob(17, v1::JOB_STATE_SUCCEEDED);
  v1::Job queued = LabJob(18, v1::JOB_STATE_QUEUED);
  queued.set_owner("bob");
  EXPECT_EQ(FormatJobList({queued, done}, absl::UTCTimeZone()),
            "ID  CREATED           OWNER  NAME                  STATE      RUNS\n"
            "18  2024-05-01 12:18  bob    lab-01-init-ablation  queued     uniform:queued "
            "xavier:queued kaiming:queued\n"
            "17  2024-05-01 12:17  alice  lab-01-init-ablation  succeeded  uniform:diverged@9 "
            "xavier:completed kaiming:completed\n");
}

TEST(FormatJobList, LongNamesAreCut) {
  v1::Job job = LabJob(1, v1::JOB_STATE_QUEUED);
  job.set_name(std::string(50, 'n'));
  EXPECT_THAT(FormatJobList({job}, absl::UTCTimeZone()), HasSubstr(std::string(31, 'n') + "~"));
}

TEST(FormatSpecSummary, OneLine) {
  EXPECT_EQ(FormatSpecSummary(LabJob(1, v1::JOB_STATE_QUEUED, 1000).spec()),
            "depth 12, width 256, input dim 256, classes 2; 1000 train, 200 val, label dims 10, "
            "seed 1; 1000 steps, lr 0.001, momentum 0.9, batch 64, eval every 50, stop at the "
            "first non-finite loss; 3 runs: uniform, xavier, kaiming");
  EXPECT_EQ(FormatSpecSummary(v1::JobSpec()), "");
}

TEST(FormatRunInit, UniformShowsItsBounds) {
  const v1::Job job = LabJob(1, v1::JOB_STATE_QUEUED);
  EXPECT_EQ(FormatRunInit(job.spec().runs(0)), "uniform[-0.5, 0.5] seed 101");
  EXPECT_EQ(FormatRunInit(job.spec().runs(2)), "kaiming seed 103");
}

TEST(FormatJobDetails, HeaderSpecAndRunTable) {
  const std::string text =
      FormatJobDetails(LabJob(17, v1::JOB_STATE_SUCCEEDED, 10), absl::UTCTimeZone());
  EXPECT_EQ(text,
            "job 17: lab-01-init-ablation (succeeded)\n"
            "owner:     alice\n"
            "created:   2024-05-01 12:17\n"
            "started:   2024-05-01 12:17\n"
            "finished:  2024-05-01 12:17 (took 30.0 s)\n"
            "model:     depth 12, width 256, input dim 256, classes 2\n"
            "data:      1000 train, 200 val, label dims 10, seed 1\n"
            "training:  10 steps, lr 0.001, momentum 0.9, batch 64, eval every 50, stop at the "
            "first non-finite loss\n"
            "\n"
            " RUN  INIT                         STATE      OUTCOME             STEPS  FINAL LOSS  "
            "VAL LOSS  VAL ACC  STEPS/S  NON-FINITE  FLATLINE\n"
            "1701  uniform[-0.5, 0.5] seed 101  diverged   diverged at step 9  10/10         nan"
            "         -        -     1000           9         -\n"
            "1702  xavier seed 102              completed  completed           10/10       0.691"
            "      0.69    50.0%     1000           -         -\n"
            "1703  kaiming seed 103             completed  completed           10/10      0.2846"
            "      0.05    99.0%     1000           -         -\n");
}

TEST(FormatJobDetails, FailedJobShowsItsError) {
  EXPECT_THAT(FormatJobDetails(LabJob(3, v1::JOB_STATE_FAILED), absl::UTCTimeZone()),
              HasSubstr("error:     the worker ran out of memory\n"));
}

TEST(FormatJobDetails, AQueuedJobSaysWhereItStandsInTheQueue) {
  v1::Job job = LabJob(3, v1::JOB_STATE_QUEUED);
  job.set_runs_ahead(37);
  EXPECT_THAT(FormatJobDetails(job, absl::UTCTimeZone()),
              StartsWith("job 3: lab-01-init-ablation (queued; 37 runs of the queue start "
                         "before its next)\n"));
  job.set_runs_ahead(1);
  EXPECT_THAT(FormatJobDetails(job, absl::UTCTimeZone()),
              StartsWith("job 3: lab-01-init-ablation (queued; 1 run of the queue starts before "
                         "its next)\n"));
  job.set_runs_ahead(0);
  EXPECT_THAT(FormatJobDetails(job, absl::UTCTimeZone()),
              StartsWith("job 3: lab-01-init-ablation (queued; its next run starts next)\n"));
}

TEST(FormatTrajectoryReport, SummaryAndEvenlySpacedRowsKeepingTheFirstNonFinite) {
  v1::GetTrajectoryResponse trajectory;
  trajectory.set_run_id(42);
  trajectory.set_steps_done(101);
  trajectory.set_first_nonfinite_step(37);
  for (int step = 0; step <= 100; ++step) {
    trajectory.add_steps(step);
    trajectory.add_losses(step < 37 ? 2.0f + step : kNaN);
  }
  v1::EvalResult* eval = trajectory.add_evals();
  eval->set_step(50);
  eval->set_loss(0.5f);
  eval->set_accuracy(0.5f);
  const std::string text = FormatTrajectoryReport(trajectory, 5);
  EXPECT_EQ(text,
            "run 42: 101 steps recorded\n"
            "first non-finite loss at step 37\n"
            "loss: first 2 (step 0), lowest 2 (step 0), last nan (step 100)\n"
            "\n"
            "STEP  LOSS\n"
            "   0     2\n"
            "  25    27\n"
            "  37   nan\n"
            "  50   nan\n"
            "  75   nan\n"
            " 100   nan\n"
            "\n"
            "validation (1 evaluation):\n"
            "STEP  VAL LOSS  VAL ACC\n"
            "  50       0.5    50.0%\n");
}

// A validation of NaN outputs measured no accuracy, and the API carries none
// (EvalResult.accuracy): the CSV leaves the field empty and the report says n/a, not 0.0%.
TEST(FormatTrajectoryReport, AValidationWithoutAccuracyIsNotAZeroPercent) {
  v1::GetTrajectoryResponse trajectory;
  trajectory.set_run_id(42);
  trajectory.set_steps_done(2);
  trajectory.add_steps(0);
  trajectory.add_losses(0.5f);
  trajectory.add_steps(1);
  trajectory.add_losses(kNaN);
  v1::EvalResult* eval = trajectory.add_evals();
  eval->set_step(1);
  eval->set_loss(kNaN);
  EXPECT_EQ(TrajectoryCsv(trajectory),
            "step,loss,val_loss,val_accuracy\n"
            "0,0.5,,\n"
            "1,nan,nan,\n");
  const std::string text = FormatTrajectoryReport(trajectory, 0);
  EXPECT_NE(text.find("n/a\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("0.0%"), std::string::npos) << text;
}

TEST(FormatTrajectoryReport, ZeroRowsMeansEveryPoint) {
  v1::GetTrajectoryResponse trajectory;
  trajectory.set_steps_done(3);
  for (int step = 0; step < 3; ++step) {
    trajectory.add_steps(step);
    trajectory.add_losses(1.0f);
  }
  const std::string text = FormatTrajectoryReport(trajectory, 0);
  EXPECT_THAT(text, HasSubstr("STEP  LOSS\n   0     1\n   1     1\n   2     1\n"));
}

TEST(FormatTrajectoryReport, NothingRecordedYet) {
  v1::GetTrajectoryResponse trajectory;
  trajectory.set_run_id(5);
  EXPECT_EQ(FormatTrajectoryReport(trajectory, 21), "run 5: 0 steps recorded\n");
}

TEST(ToJson, ProtobufMappingWithEveryField) {
  v1::Job job = LabJob(17, v1::JOB_STATE_QUEUED);
  const std::string json = ToJson(job);
  EXPECT_THAT(json, HasSubstr("\"id\": 17"));
  EXPECT_THAT(json, HasSubstr("\"state\": \"JOB_STATE_QUEUED\""));
  EXPECT_THAT(json, HasSubstr("\"error\": \"\""));  // defaults printed too
  EXPECT_THAT(json, HasSubstr("\"weight_seed\": 101"));
  EXPECT_THAT(json, Not(HasSubstr("final_loss")));  // unset optional stays absent
  EXPECT_EQ(json.back(), '\n');
  v1::ListJobsResponse empty;
  EXPECT_THAT(ToJson(empty), HasSubstr("\"jobs\": []"));
}

// A diverged run's cell names what its loss became, from the view: an overflow is not "NaN".
TEST(FormatClassView, NamesEachRunsFirstNonFiniteLoss) {
  v1::ClassView view;
  view.set_jobs(1);
  view.set_runs(3);
  v1::StudentRow& row = *view.add_students();
  row.set_owner("ada");
  row.set_job_id(7);
  row.set_jobs(1);
  const float losses[] = {kInf, kNaN, -kInf};
  for (const float loss : losses) {
    v1::ClassRun& run = *row.add_runs();
    run.set_init("uniform");
    run.set_first_nonfinite_step(3);
    run.set_first_nonfinite_loss(loss);
  }
  v1::ClassRun& unknown = *row.add_runs();
  unknown.set_init("uniform");
  unknown.set_first_nonfinite_step(4);
  v1::RunGroup& group = *view.add_groups();
  group.set_label("uniform");
  group.mutable_first_nonfinite_step()->set_count(1);
  group.mutable_first_nonfinite_step()->set_median(3);
  const std::string text = FormatClassView(view);
  EXPECT_THAT(text, HasSubstr("uniform:+inf@3 uniform:NaN@3 uniform:-inf@3 uniform:non-finite@4"));
  EXPECT_THAT(text, HasSubstr("FIRST NON-FINITE STEP"));
  EXPECT_THAT(text, Not(HasSubstr("FIRST NaN")));
  EXPECT_THAT(ClassReportMarkdown(view, ""), HasSubstr("uniform:+inf@3"));
}

}  // namespace
}  // namespace ablate::client
