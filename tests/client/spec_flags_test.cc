#include "client/spec_flags.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"

namespace ablate::client {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ParseInitFlag, NameOnlyLeavesEverythingElseUnset) {
  absl::StatusOr<v1::RunSpec> run = ParseInitFlag("kaiming");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->init(), "kaiming");
  EXPECT_FALSE(run->has_weight_seed());
  EXPECT_FALSE(run->has_uniform_low());
  EXPECT_FALSE(run->has_uniform_high());
}

TEST(ParseInitFlag, Seed) {
  absl::StatusOr<v1::RunSpec> run = ParseInitFlag("kaiming:seed=7");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->init(), "kaiming");
  EXPECT_EQ(run->weight_seed(), 7u);
  EXPECT_FALSE(run->has_uniform_low());
}

TEST(ParseInitFlag, UniformBoundsAndSeedInAnyOrder) {
  absl::StatusOr<v1::RunSpec> run = ParseInitFlag("uniform:high=1,low=-1,seed=3");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->init(), "uniform");
  EXPECT_DOUBLE_EQ(run->uniform_low(), -1);
  EXPECT_DOUBLE_EQ(run->uniform_high(), 1);
  EXPECT_EQ(run->weight_seed(), 3u);
}

TEST(ParseInitFlag, LargestSeed) {
  absl::StatusOr<v1::RunSpec> run = ParseInitFlag("xavier:seed=18446744073709551615");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->weight_seed(), 18446744073709551615u);
}

TEST(ParseInitFlag, UnknownNamesAreTheServersCall) {
  // The server knows which schemes exist and says so; the client only parses.
  absl::StatusOr<v1::RunSpec> run = ParseInitFlag("lecun");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->init(), "lecun");
}

TEST(ParseInitFlag, ParameterWithoutValueIsAnErrorNamingTheFlag) {
  absl::StatusOr<v1::RunSpec> run = ParseInitFlag("foo:bar");
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run.status().message(),
            "--init foo:bar: expected key=value after ':' (keys: seed, low, high), got 'bar'");
}

TEST(ParseInitFlag, Errors) {
  struct Case {
    const char* value;
    const char* message;
  };
  const Case cases[] = {
      {"",
       "--init : expected an init name such as kaiming, optionally followed by "
       ":key=value,... (e.g. kaiming:seed=7)"},
      {":seed=3",
       "--init :seed=3: expected an init name such as kaiming, optionally followed "
       "by :key=value,... (e.g. kaiming:seed=7)"},
      {"kaiming:", "--init kaiming:: expected key=value after ':' (keys: seed, low, high)"},
      {"kaiming:depth=3", "--init kaiming:depth=3: unknown key 'depth' (keys: seed, low, high)"},
      {"kaiming:seed=x", "--init kaiming:seed=x: seed must be a non-negative integer, got 'x'"},
      {"kaiming:seed=-1", "--init kaiming:seed=-1: seed must be a non-negative integer, got '-1'"},
      {"kaiming:seed=1.5",
       "--init kaiming:seed=1.5: seed must be a non-negative integer, got '1.5'"},
      {"kaiming:seed=", "--init kaiming:seed=: seed must be a non-negative integer, got ''"},
      {"uniform:low=abc", "--init uniform:low=abc: low must be a number, got 'abc'"},
      {"uniform:low=1,low=2", "--init uniform:low=1,low=2: low is given twice"},
      {"uniform:low=1,,high=2",
       "--init uniform:low=1,,high=2: expected key=value after ':' (keys: seed, low, high), "
       "got ''"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<v1::RunSpec> run = ParseInitFlag(c.value);
    ASSERT_FALSE(run.ok()) << c.value;
    EXPECT_EQ(run.status().message(), c.message);
  }
}

TEST(ApplySpecFlags, NoFlagsLeaveAnEmptySpec) {
  v1::JobSpec spec;
  ASSERT_TRUE(ApplySpecFlags(SpecFlags{}, &spec).ok());
  EXPECT_EQ(spec.ByteSizeLong(), 0u);  // the server fills in lab 1
  EXPECT_FALSE(spec.has_model());
  EXPECT_FALSE(spec.has_training());
}

TEST(ApplySpecFlags, SetsExactlyTheGivenFields) {
  SpecFlags flags;
  flags.depth = "24";
  flags.lr = "1e-4";
  flags.data_seed = "9";
  v1::JobSpec spec;
  ASSERT_TRUE(ApplySpecFlags(flags, &spec).ok());
  EXPECT_EQ(spec.model().depth(), 24);
  EXPECT_FALSE(spec.model().has_width());
  EXPECT_DOUBLE_EQ(spec.training().lr(), 1e-4);
  EXPECT_FALSE(spec.training().has_steps());
  EXPECT_FALSE(spec.training().has_stop_on_nonfinite());
  EXPECT_EQ(spec.data().seed(), 9u);
  EXPECT_FALSE(spec.data().has_train_size());
  EXPECT_TRUE(spec.name().empty());
  EXPECT_EQ(spec.runs_size(), 0);
}

TEST(ApplySpecFlags, EveryFlagReachesItsField) {
  SpecFlags flags;
  flags.name = "deep";
  flags.depth = "3";
  flags.width = "4";
  flags.input_dim = "5";
  flags.steps = "6";
  flags.lr = "0.5";
  flags.momentum = "0.25";
  flags.batch = "7";
  flags.eval_every = "8";
  flags.train_size = "9";
  flags.val_size = "10";
  flags.label_dims = "11";
  flags.data_seed = "12";
  flags.continue_after_nonfinite = true;
  flags.inits = {"uniform:low=-1,high=1", "kaiming:seed=7"};
  v1::JobSpec spec;
  ASSERT_TRUE(ApplySpecFlags(flags, &spec).ok());
  EXPECT_EQ(spec.name(), "deep");
  EXPECT_EQ(spec.model().depth(), 3);
  EXPECT_EQ(spec.model().width(), 4);
  EXPECT_EQ(spec.model().input_dim(), 5);
  EXPECT_FALSE(spec.model().has_classes());
  EXPECT_EQ(spec.training().steps(), 6);
  EXPECT_DOUBLE_EQ(spec.training().lr(), 0.5);
  EXPECT_DOUBLE_EQ(spec.training().momentum(), 0.25);
  EXPECT_EQ(spec.training().batch(), 7);
  EXPECT_EQ(spec.training().eval_every(), 8);
  EXPECT_TRUE(spec.training().has_stop_on_nonfinite());
  EXPECT_FALSE(spec.training().stop_on_nonfinite());
  EXPECT_EQ(spec.data().train_size(), 9);
  EXPECT_EQ(spec.data().val_size(), 10);
  EXPECT_EQ(spec.data().label_dims(), 11);
  EXPECT_EQ(spec.data().seed(), 12u);
  ASSERT_EQ(spec.runs_size(), 2);
  EXPECT_EQ(spec.runs(0).init(), "uniform");
  EXPECT_DOUBLE_EQ(spec.runs(0).uniform_low(), -1);
  EXPECT_EQ(spec.runs(1).init(), "kaiming");
  EXPECT_EQ(spec.runs(1).weight_seed(), 7u);
}

TEST(ApplySpecFlags, FlagsOverrideAFileAndInitsReplaceItsRuns) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(
      R"({"name": "from-file", "model": {"depth": 6, "width": 64},
          "runs": [{"init": "xavier"}, {"init": "orthogonal"}]})",
      "job.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  SpecFlags flags;
  flags.depth = "24";
  flags.inits = {"kaiming"};
  ASSERT_TRUE(ApplySpecFlags(flags, &*spec).ok());
  EXPECT_EQ(spec->name(), "from-file");
  EXPECT_EQ(spec->model().depth(), 24);
  EXPECT_EQ(spec->model().width(), 64);
  ASSERT_EQ(spec->runs_size(), 1);
  EXPECT_EQ(spec->runs(0).init(), "kaiming");
}

TEST(ApplySpecFlags, WithoutInitsTheFilesRunsStay) {
  absl::StatusOr<v1::JobSpec> spec =
      ParseJobSpecJson(R"({"runs": [{"init": "xavier"}]})", "job.json");
  ASSERT_TRUE(spec.ok());
  SpecFlags flags;
  flags.steps = "10";
  ASSERT_TRUE(ApplySpecFlags(flags, &*spec).ok());
  ASSERT_EQ(spec->runs_size(), 1);
  EXPECT_EQ(spec->runs(0).init(), "xavier");
}

TEST(ApplySpecFlags, BadValuesNameTheFlag) {
  struct Case {
    std::optional<std::string> SpecFlags::*field;
    const char* value;
    const char* message;
  };
  const Case cases[] = {
      {&SpecFlags::depth, "abc", "--depth: expected an integer, got 'abc'"},
      {&SpecFlags::depth, "12.5", "--depth: expected an integer, got '12.5'"},
      {&SpecFlags::steps, "3000000000", "--steps: expected a 32-bit integer, got '3000000000'"},
      {&SpecFlags::lr, "fast", "--lr: expected a number, got 'fast'"},
      {&SpecFlags::momentum, "", "--momentum: expected a number, got ''"},
      {&SpecFlags::data_seed, "-1", "--data-seed: expected a non-negative integer, got '-1'"},
      {&SpecFlags::eval_every, "1e3", "--eval-every: expected an integer, got '1e3'"},
      {&SpecFlags::input_dim, "x", "--input-dim: expected an integer, got 'x'"},
      {&SpecFlags::label_dims, "x", "--label-dims: expected an integer, got 'x'"},
  };
  for (const Case& c : cases) {
    SpecFlags flags;
    flags.*c.field = c.value;
    v1::JobSpec spec;
    absl::Status status = ApplySpecFlags(flags, &spec);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.value;
    EXPECT_EQ(status.message(), c.message);
  }
}

TEST(ApplySpecFlags, OutOfRangeValuesAreLeftToTheServer) {
  SpecFlags flags;
  flags.depth = "-3";
  flags.lr = "20";
  v1::JobSpec spec;
  ASSERT_TRUE(ApplySpecFlags(flags, &spec).ok());
  EXPECT_EQ(spec.model().depth(), -3);
  EXPECT_DOUBLE_EQ(spec.training().lr(), 20);
}

TEST(ApplySpecFlags, BadInitIsReported) {
  SpecFlags flags;
  flags.inits = {"kaiming", "foo:bar"};
  v1::JobSpec spec;
  absl::Status status = ApplySpecFlags(flags, &spec);
  EXPECT_THAT(std::string(status.message()), StartsWith("--init foo:bar: "));
}

TEST(ParseJobSpecJson, AcceptsBothFieldNameStyles) {
  absl::StatusOr<v1::JobSpec> snake = ParseJobSpecJson(
      R"({"training": {"eval_every": 5, "stop_on_nonfinite": false}, "data": {"seed": "3"}})",
      "a.json");
  absl::StatusOr<v1::JobSpec> camel = ParseJobSpecJson(
      R"({"training": {"evalEvery": 5, "stopOnNonfinite": false}, "data": {"seed": 3}})", "b.json");
  ASSERT_TRUE(snake.ok()) << snake.status();
  ASSERT_TRUE(camel.ok()) << camel.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*snake, *camel));
  EXPECT_EQ(snake->training().eval_every(), 5);
  EXPECT_TRUE(snake->training().has_stop_on_nonfinite());
}

TEST(ParseJobSpecJson, AcceptsAWholeJobAndTakesItsSpec) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(
      R"({"id": "17", "state": "JOB_STATE_SUCCEEDED", "spec": {"name": "again",
          "model": {"depth": 4}}})",
      "job.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "again");
  EXPECT_EQ(spec->model().depth(), 4);
}

TEST(ParseJobSpecJson, ErrorsNameTheFileAndTheProblemOnOneLine) {
  absl::StatusOr<v1::JobSpec> typo = ParseJobSpecJson(R"({"modle": {}})", "job.json");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(typo.status().message()),
              StartsWith("job.json is not a valid job spec: "));
  EXPECT_THAT(std::string(typo.status().message()), HasSubstr("modle"));

  absl::StatusOr<v1::JobSpec> type = ParseJobSpecJson(R"({"model": {"depth": "x"}})", "j.json");
  ASSERT_FALSE(type.ok());
  EXPECT_THAT(std::string(type.status().message()), HasSubstr("model.depth"));

  absl::StatusOr<v1::JobSpec> truncated = ParseJobSpecJson("{\"model\": {", "j.json");
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(std::string(truncated.status().message()),
              StartsWith("j.json is not a valid job spec: "));
  EXPECT_EQ(std::string(truncated.status().message()).find('\n'), std::string::npos);
}

TEST(ReadJobSpecFile, ReadsAFileAndNamesAMissingOne) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "ablate_spec_flags_test.json";
  {
    std::ofstream out(path);
    out << R"({"name": "from disk", "runs": [{"init": "kaiming", "weight_seed": 5}]})";
  }
  absl::StatusOr<v1::JobSpec> spec = ReadJobSpecFile(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "from disk");
  EXPECT_EQ(spec->runs(0).weight_seed(), 5u);

  absl::StatusOr<v1::JobSpec> missing = ReadJobSpecFile("/nonexistent/job.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "cannot read the spec file /nonexistent/job.json: No such file or directory");
}

}  // namespace
}  // namespace ablate::client
