// The one mapping between the store's records and v1 messages: each state has its pair, a
// record survives the trip to its message and back bit for bit, and ListJobs' filters are
// checked where the request is read.
#include "server/service/wire.h"

#include <bit>
#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/store.h"

namespace ablate::wire {
namespace {

using ::testing::HasSubstr;

TEST(Wire, EveryStateHasItsOwnPairAndOneName) {
  int terminal = 0;
  for (int i = 1; i <= 5; ++i) {
    const auto state = static_cast<store::JobState>(i);
    ASSERT_NE(store::StateName(state), nullptr);
    EXPECT_EQ(store::JobStateNamed(store::StateName(state)), state);
    EXPECT_EQ(StateFromProto(StateToProto(state)), state);
    EXPECT_EQ(static_cast<int>(StateToProto(state)), i);
    terminal += store::IsTerminal(state);
  }
  EXPECT_EQ(terminal, 3);  // succeeded, failed, cancelled
  terminal = 0;
  for (int i = 1; i <= 6; ++i) {
    const auto state = static_cast<store::RunState>(i);
    ASSERT_NE(store::StateName(state), nullptr);
    EXPECT_EQ(store::RunStateNamed(store::StateName(state)), state);
    EXPECT_EQ(StateFromProto(StateToProto(state)), state);
    terminal += store::IsTerminal(state);
  }
  EXPECT_EQ(terminal, 4);  // completed, diverged, cancelled, failed
  EXPECT_EQ(store::StateName(store::JobState::kUnspecified), nullptr);
  EXPECT_FALSE(store::IsTerminal(store::RunState::kUnspecified));
  EXPECT_EQ(StateFromProto(static_cast<v1::JobState>(42)), store::JobState::kUnspecified);
  EXPECT_EQ(StateToProto(store::RunState::kUnspecified), v1::RUN_STATE_UNSPECIFIED);
  EXPECT_EQ(store::JobStateNamed("Queued"), std::nullopt);  // the database's words only
}

TEST(Wire, ARunRecordSurvivesItsMessageBitForBit) {
  store::RunRecord run;
  run.id = 7;
  run.job_id = 3;
  run.index = 2;
  run.spec = {.init = "uniform", .weight_seed = 18446744073709551615ull, .uniform_low = -0.0,
              .uniform_high = 0.5};
  run.state = store::RunState::kDiverged;
  run.outcome = "diverged at step 4";
  run.steps_done = 5;
  run.first_nonfinite_step = 4;
  run.final_loss = -std::numeric_limits<float>::infinity();
  run.final_eval = store::EvalRecord{.run_id = 7, .step = 4, .loss = 1e-45f, .accuracy = 0.5f};
  run.init_stats = {{.weight_variance = 1.0 / 12, .activation_mean = -0.0,
                     .activation_std = 5e-324, .first_step_grad_norm = 2.5}};
  run.final_stats = {{.weight_variance = 1e300,
                      .activation_mean = 0,
                      .activation_std = 0,
                      .first_step_grad_norm = std::nullopt}};
  run.seconds = 0.1 + 0.2;
  run.steps_per_second = 3;
  run.started_at = absl::FromUnixMillis(-1);  // before 1970: nanos stay in [0, 1e9)
  run.finished_at = absl::FromUnixMillis(1'700'000'000'123);
  run.fingerprint = "fp1-0123456789abcdef";
  run.restart_reason = "why";

  const v1::Run message = RunToProto(run);
  EXPECT_EQ(message.started_at().seconds(), -1);
  EXPECT_EQ(message.started_at().nanos(), 999000000);
  const store::RunRecord back = RunSummaryFromProto(message);
  EXPECT_EQ(back.id, 7);
  EXPECT_EQ(back.job_id, 3);
  EXPECT_EQ(back.index, 2);
  EXPECT_EQ(back.spec.weight_seed, run.spec.weight_seed);
  EXPECT_TRUE(std::signbit(*back.spec.uniform_low));
  EXPECT_EQ(back.state, store::RunState::kDiverged);
  EXPECT_EQ(back.first_nonfinite_step, 4);
  EXPECT_FALSE(back.flatline_step.has_value());
  EXPECT_EQ(back.final_loss, run.final_loss);
  ASSERT_TRUE(back.final_eval.has_value());
  EXPECT_EQ(std::bit_cast<uint32_t>(back.final_eval->loss), std::bit_cast<uint32_t>(1e-45f));
  ASSERT_EQ(back.init_stats.size(), 1u);
  EXPECT_TRUE(std::signbit(back.init_stats[0].activation_mean));
  EXPECT_EQ(back.init_stats[0].activation_std, 5e-324);
  EXPECT_EQ(back.init_stats[0].first_step_grad_norm, 2.5);
  ASSERT_EQ(back.final_stats.size(), 1u);
  EXPECT_FALSE(back.final_stats[0].first_step_grad_norm.has_value());
  EXPECT_EQ(std::bit_cast<uint64_t>(back.seconds), std::bit_cast<uint64_t>(0.1 + 0.2));
  EXPECT_EQ(back.started_at, run.started_at);
  EXPECT_EQ(back.finished_at, run.finished_at);
  EXPECT_EQ(back.fingerprint, run.fingerprint);
  EXPECT_EQ(back.restart_reason, "why");
}

// The store keeps the 0 % a validation of NaN outputs counted; the API said it too. No accuracy
// was measured, so the message carries none (and a measured 0 % stays).
TEST(Wire, AValidationWithANonFiniteLossCarriesNoAccuracy) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (float loss : {nan, inf, -inf}) {
    const v1::EvalResult e =
        EvalToProto(store::EvalRecord{.run_id = 1, .step = 4, .loss = loss, .accuracy = 0});
    EXPECT_FALSE(e.has_accuracy()) << loss;
    EXPECT_EQ(e.step(), 4);
  }
  const v1::EvalResult measured =
      EvalToProto(store::EvalRecord{.run_id = 1, .step = 4, .loss = 0.7f, .accuracy = 0});
  EXPECT_TRUE(measured.has_accuracy());
  EXPECT_EQ(measured.accuracy(), 0);
  store::RunRecord run;
  run.final_eval = store::EvalRecord{.run_id = 1, .step = 4, .loss = nan, .accuracy = 0};
  EXPECT_FALSE(RunToProto(run).final_eval().has_accuracy());
}

TEST(Wire, AJobsSpecIsItsBytesAndBytesThatAreNotASpecAreDataLoss) {
  v1::JobSpec spec;
  spec.set_name("n");
  spec.mutable_training()->set_momentum(0.0);  // set, though zero
  spec.add_runs()->set_init("kaiming");
  absl::StatusOr<store::NewJob> job = NewJobFromSpec(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->name, "n");
  ASSERT_EQ(job->runs.size(), 1u);
  EXPECT_FALSE(job->runs[0].weight_seed.has_value());
  EXPECT_THAT(job->spec_json, HasSubstr("\"momentum\""));

  store::JobRecord record;
  record.id = 9;
  record.state = store::JobState::kQueued;
  record.spec_proto = job->spec_proto;
  absl::StatusOr<v1::Job> message = JobToProto(record);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_TRUE(message->spec().training().has_momentum());
  EXPECT_FALSE(message->has_started_at());

  record.spec_proto = "\xff not a spec";
  EXPECT_EQ(JobToProto(record).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(JobToProto(record).status().message(), HasSubstr("job 9"));
  record.spec_proto.clear();
  EXPECT_EQ(JobToProto(record).status().code(), absl::StatusCode::kDataLoss);
}

TEST(Wire, ListJobsFiltersAreCheckedAsTheRequestIsRead) {
  v1::ListJobsRequest request;
  request.add_states(v1::JOB_STATE_FAILED);
  request.add_states(static_cast<v1::JobState>(9));
  absl::StatusOr<store::JobQuery> query = QueryFromProto(request);
  EXPECT_EQ(query.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(query.status().message(), HasSubstr("states[1]: 9 is not a job state"));

  request.clear_states();
  request.mutable_created_after()->set_nanos(-1);
  EXPECT_THAT(QueryFromProto(request).status().message(), HasSubstr("created_after.nanos"));

  // The epoch is no bound; anything else is one, to the nanosecond.
  request.mutable_created_after()->set_nanos(0);
  request.mutable_created_before()->set_seconds(5);
  request.mutable_created_before()->set_nanos(1);
  query = QueryFromProto(request);
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_FALSE(query->created_after.has_value());
  EXPECT_EQ(query->created_before, absl::FromUnixSeconds(5) + absl::Nanoseconds(1));
}

TEST(Wire, AListBoundIsRoundedUpToTheStoresWholeMilliseconds) {
  // Through a real store: a job created at 5.000 s was created at or after 4.999999999 s, not
  // at or after 5.000000001 s, and before 5.000000001 s.
  auto store = store::Store::Open(":memory:");
  ASSERT_TRUE(store.ok()) << store.status();
  v1::JobSpec spec;
  spec.set_name("j");
  spec.add_runs()->set_init("xavier");
  ASSERT_TRUE(CreateJob(**store, spec, "ada", absl::FromUnixSeconds(5)).ok());
  v1::ListJobsRequest request;
  request.mutable_created_after()->set_seconds(4);
  request.mutable_created_after()->set_nanos(999999999);
  EXPECT_EQ(ListJobs(**store, request)->jobs_size(), 1);
  request.mutable_created_after()->set_seconds(5);
  request.mutable_created_after()->set_nanos(1);  // rounds up to 5.001 s: after the job
  EXPECT_EQ(ListJobs(**store, request)->jobs_size(), 0);
  request.clear_created_after();
  request.mutable_created_before()->set_seconds(5);
  request.mutable_created_before()->set_nanos(1);  // before 5.001 s: the job is in
  EXPECT_EQ(ListJobs(**store, request)->jobs_size(), 1);
}

}  // namespace
}  // namespace ablate::wire
