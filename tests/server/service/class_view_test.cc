// The class view's arithmetic: grouping, bands, distributions, roles' rows and flags.
#include "server/service/class_view.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "server/jobs/spec.h"

namespace ablate::service {
namespace {

int64_t next_id = 1;

// A resolved lab job of `owner` with one run per init; each run ended as `diverged_at` says
// (a step, or -1 for completed).
v1::Job MakeJob(const std::string& owner, const std::vector<std::string>& inits,
                const std::vector<int>& diverged_at, double uniform_high = 0.5,
                double lr = 0.001) {
  v1::JobSpec spec;
  spec.mutable_training()->set_steps(10);
  spec.mutable_training()->set_lr(lr);
  for (const std::string& init : inits) {
    v1::RunSpec* run = spec.add_runs();
    run->set_init(init);
    if (init == "uniform") {
      run->set_uniform_low(-uniform_high);
      run->set_uniform_high(uniform_high);
    }
  }
  v1::Job job;
  job.set_id(next_id++);
  job.set_owner(owner);
  job.set_name(owner + "-lab");
  job.set_state(v1::JOB_STATE_SUCCEEDED);
  *job.mutable_spec() = *jobs::ResolveSpec(spec);
  for (size_t i = 0; i < inits.size(); ++i) {
    v1::Run* run = job.add_runs();
    run->set_id(next_id++);
    run->set_job_id(job.id());
    run->set_index(static_cast<int>(i));
    *run->mutable_spec() = job.spec().runs(static_cast<int>(i));
    if (diverged_at[i] >= 0) {
      run->set_state(v1::RUN_STATE_DIVERGED);
      run->set_first_nonfinite_step(diverged_at[i]);
      run->set_outcome("diverged at step " + std::to_string(diverged_at[i]));
    } else {
      run->set_state(v1::RUN_STATE_COMPLETED);
      run->set_final_loss(0.1f * static_cast<float>(i + 1));
      run->mutable_final_eval()->set_loss(0.5f);
      run->mutable_final_eval()->set_accuracy(0.6f);
      run->set_outcome("completed");
    }
  }
  jobs::LabelRuns(job);
  return job;
}

std::vector<float> Curve(float start, int steps, int nan_at = -1) {
  std::vector<float> losses;
  for (int s = 0; s < steps; ++s) {
    losses.push_back(s == nan_at ? std::nanf("") : start / static_cast<float>(s + 1));
    if (s == nan_at) break;
  }
  return losses;
}

TEST(QuantileTest, InterpolatesLikeNumpy) {
  std::vector<double> v = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(Quantile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Quantile(v, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(Quantile(v, 0.1), 1.3);  // numpy.quantile([1,2,3,4], 0.1) == 1.3
  EXPECT_DOUBLE_EQ(Quantile(v, 1), 4);
}

TEST(RunLabelTest, CarriesTheSeedAndWhatDiffersFromTheLab) {
  v1::JobSpec spec;
  spec.mutable_training()->set_lr(1e-4);
  v1::RunSpec* run = spec.add_runs();
  run->set_init("kaiming");
  run->set_weight_seed(7);
  spec.add_runs()->set_init("uniform");
  spec.mutable_runs(1)->set_uniform_low(-0.05);
  spec.mutable_runs(1)->set_uniform_high(0.05);
  const v1::JobSpec resolved = *jobs::ResolveSpec(spec);
  EXPECT_EQ(jobs::RunLabel(resolved, 0), "kaiming · seed 7 · lr 0.0001");
  EXPECT_EQ(jobs::RunLabel(resolved, 1), "uniform U[-0.05, 0.05] · seed 102 · lr 0.0001");
  const v1::JobSpec lab = *jobs::ResolveSpec(v1::JobSpec());
  EXPECT_EQ(jobs::RunLabel(lab, 0), "uniform · seed 101");
}

// Ten students; student 9's uniform has wrong bounds and does not diverge; student 3 trains
// xavier twice with the same seed.
ClassViewInput TenStudents() {
  ClassViewInput input;
  input.class_name = "cs101";
  for (int i = 9; i >= 0; --i) {  // newest first
    const std::string owner = "s" + std::to_string(i);
    v1::Job job = i == 9 ? MakeJob(owner, {"uniform", "xavier", "kaiming"}, {-1, -1, -1}, 0.05)
                         : MakeJob(owner, {"uniform", "xavier", "kaiming"}, {2, -1, -1});
    if (i == 3) {
      v1::RunSpec spec = job.spec().runs(1);
      v1::Run copy = job.runs(1);
      copy.set_id(next_id++);
      copy.set_index(2);
      *copy.mutable_spec() = spec;
      *job.mutable_spec()->mutable_runs(2) = spec;
      *job.mutable_runs(2) = copy;
      jobs::LabelRuns(job);
    }
    for (const v1::Run& run : job.runs()) {
      const bool diverged = run.state() == v1::RUN_STATE_DIVERGED;
      const std::string& init = run.spec().init();
      input.losses[run.id()] = Curve(init == "kaiming" ? 0.5f + 0.01f * i
                                     : init == "uniform" ? 0.8f
                                                         : 0.7f,
                                     10, diverged ? 2 : -1);
    }
    if (i == 3) input.losses[job.runs(2).id()] = input.losses[job.runs(1).id()];
    input.jobs.push_back(std::move(job));
  }
  return input;
}

TEST(ClassViewTest, GroupsByInitAndByTheBoundsThatDiffer) {
  const ClassViewResult result = BuildClassView(TenStudents(), ClassViewOptions{});
  const v1::ClassView& view = result.view;
  EXPECT_EQ(view.jobs(), 10);
  EXPECT_EQ(view.runs(), 30);
  std::vector<std::string> labels;
  for (const v1::RunGroup& g : view.groups()) labels.push_back(g.label());
  // xavier has 11 runs (student 3's two), then kaiming 9, uniform 9 and the odd uniform 1.
  ASSERT_EQ(view.groups_size(), 4);
  EXPECT_EQ(view.groups(0).label(), "xavier");
  EXPECT_EQ(view.groups(0).runs_size(), 11);
  EXPECT_EQ(view.groups(1).label(), "kaiming");
  EXPECT_EQ(view.groups(2).label(), "uniform U[-0.5, 0.5]");
  EXPECT_EQ(view.groups(2).diverged(), 9);
  EXPECT_EQ(view.groups(3).label(), "uniform U[-0.05, 0.05]");
  EXPECT_EQ(view.groups(3).key(), "init=uniform;bounds=U[-0.05, 0.05]");
}

TEST(ClassViewTest, BandsAreQuantilesOfTheFiniteLossesAtEachStep) {
  const ClassViewResult result = BuildClassView(TenStudents(), ClassViewOptions{});
  const v1::RunGroup& kaiming = result.view.groups(1);
  ASSERT_EQ(kaiming.init(), "kaiming");
  // 10 steps fit in the default 100 points: every step.
  ASSERT_EQ(kaiming.steps_size(), 10);
  // Step 0: losses 0.5 + 0.01 i for students 0..9 except 3 (whose run 2 is xavier).
  std::vector<double> at0;
  for (int i = 0; i < 10; ++i) {
    if (i != 3) at0.push_back(0.5 + 0.01 * i);
  }
  EXPECT_NEAR(kaiming.median(0), Quantile(at0, 0.5), 1e-6);
  EXPECT_NEAR(kaiming.low(0), Quantile(at0, 0.1), 1e-6);
  EXPECT_NEAR(kaiming.high(0), Quantile(at0, 0.9), 1e-6);
  EXPECT_EQ(kaiming.count(0), 9);
  EXPECT_LT(kaiming.low(0), kaiming.median(0));
  // The diverged uniform runs: finite at steps 0 and 1, nothing from step 2 on.
  const v1::RunGroup& uniform = result.view.groups(2);
  EXPECT_EQ(uniform.count(1), 9);
  EXPECT_EQ(uniform.count(2), 0);
  EXPECT_TRUE(std::isnan(uniform.median(2)));
  EXPECT_EQ(uniform.first_nonfinite_step().count(), 9);
  EXPECT_EQ(uniform.first_nonfinite_step().median(), 2);
  EXPECT_EQ(uniform.final_loss().count(), 0);
  EXPECT_EQ(result.curves[2].median.size(), 3u);
}

// Each run says what its loss became where it first was not finite, from its recorded losses:
// "NaN" on a run that overflowed to +inf would teach the wrong failure.
TEST(ClassViewTest, EachRunCarriesItsFirstNonFiniteLossAsRecorded) {
  ClassViewInput input = TenStudents();
  // Student 0 (the oldest job, last in the input): the uniform run overflowed to +inf at step 2;
  // student 1's has no losses at hand.
  v1::Job& student0 = input.jobs.back();
  v1::Job& student1 = input.jobs[input.jobs.size() - 2];
  input.losses[student0.runs(0).id()][2] = std::numeric_limits<float>::infinity();
  input.losses.erase(student1.runs(0).id());
  const ClassViewResult result = BuildClassView(input, ClassViewOptions{});
  std::map<std::string, const v1::StudentRow*> rows;
  for (const v1::StudentRow& row : result.view.students()) rows[row.owner()] = &row;
  ASSERT_EQ(rows.count("s0"), 1u);
  const v1::ClassRun& overflowed = rows["s0"]->runs(0);
  EXPECT_EQ(overflowed.first_nonfinite_step(), 2);
  ASSERT_TRUE(overflowed.has_first_nonfinite_loss());
  EXPECT_EQ(overflowed.first_nonfinite_loss(), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(rows["s2"]->runs(0).first_nonfinite_loss()));
  EXPECT_TRUE(rows["s1"]->runs(0).has_first_nonfinite_step());
  EXPECT_FALSE(rows["s1"]->runs(0).has_first_nonfinite_loss());
  EXPECT_FALSE(rows["s0"]->runs(1).has_first_nonfinite_loss());  // xavier completed
  // The groups' runs say the same.
  int infinite = 0, nan = 0;
  for (const v1::ClassRun& run : result.view.groups(2).runs()) {
    infinite += std::isinf(run.first_nonfinite_loss());
    nan += std::isnan(run.first_nonfinite_loss());
  }
  EXPECT_EQ(infinite, 1);
  EXPECT_EQ(nan, 7);
}

TEST(ClassViewTest, SamplesLongCurvesOnAGridWithBothEnds) {
  ClassViewInput input = TenStudents();
  for (auto& [id, losses] : input.losses) losses.resize(1000, 0.3f);
  ClassViewOptions options;
  options.grid_points = 10;
  const ClassViewResult result = BuildClassView(input, options);
  const v1::RunGroup& g = result.view.groups(0);
  ASSERT_EQ(g.steps_size(), 10);
  EXPECT_EQ(g.steps(0), 0);
  EXPECT_EQ(g.steps(9), 999);
}

TEST(ClassViewTest, FlagsTheWrongBoundsUniformAndIdenticalCurvesForTheInstructor) {
  const ClassViewResult result = BuildClassView(TenStudents(), ClassViewOptions{});
  ASSERT_EQ(result.view.students_size(), 10);
  int flagged = 0;
  for (const v1::StudentRow& row : result.view.students()) {
    if (row.owner() == "s9") {
      ASSERT_EQ(row.flags_size(), 1);
      EXPECT_NE(row.flags(0).find("uniform U[-0.05, 0.05] · seed 101 · steps 10: did not diverge, while 9 "
                                  "of the class's 9 other uniform runs did"),
                std::string::npos)
          << row.flags(0);
      EXPECT_NE(row.flags(0).find("bounds"), std::string::npos);
    } else if (row.owner() == "s3") {
      ASSERT_EQ(row.flags_size(), 1);
      EXPECT_EQ(row.flags(0).rfind("runs 1 and 2 have identical curves", 0), 0u) << row.flags(0);
    } else {
      EXPECT_EQ(row.flags_size(), 0) << row.owner() << ": " << row.flags(0);
    }
    flagged += row.flags_size() > 0;
  }
  EXPECT_EQ(flagged, 2);
}

TEST(ClassViewTest, AStudentGetsTheGroupsAndOnlyTheirOwnRow) {
  ClassViewOptions options;
  options.every_student = false;
  options.only_owner = "s4";
  const ClassViewResult result = BuildClassView(TenStudents(), options);
  EXPECT_EQ(result.view.groups_size(), 4);
  ASSERT_EQ(result.view.students_size(), 1);
  EXPECT_EQ(result.view.students(0).owner(), "s4");
}

TEST(ClassViewTest, NoEnvelopeWithTooFewRuns) {
  ClassViewInput input;
  input.jobs.push_back(MakeJob("a", {"uniform"}, {-1}));
  input.jobs.push_back(MakeJob("b", {"uniform"}, {3}));
  input.jobs.push_back(MakeJob("c", {"uniform"}, {3}));
  const ClassViewResult result = BuildClassView(input, ClassViewOptions{});
  for (const v1::StudentRow& row : result.view.students()) EXPECT_EQ(row.flags_size(), 0);
}

TEST(ClassViewTest, AHyperParameterThatDiffersSplitsAndNamesTheGroups) {
  ClassViewInput input;
  input.jobs.push_back(MakeJob("a", {"kaiming"}, {-1}, 0.5, 1e-4));
  input.jobs.push_back(MakeJob("b", {"kaiming"}, {-1}));
  const ClassViewResult result = BuildClassView(input, ClassViewOptions{});
  ASSERT_EQ(result.view.groups_size(), 2);
  EXPECT_EQ(result.view.groups(0).label(), "kaiming · lr 0.0001");
  EXPECT_EQ(result.view.groups(1).label(), "kaiming · lr 0.001");
}

}  // namespace
}  // namespace ablate::service
