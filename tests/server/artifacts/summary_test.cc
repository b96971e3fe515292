// Tests of server/artifacts/summary.h: the numbers and judgements every file is written from.
#include "server/artifacts/summary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/analysis.h"
#include "core/init.h"
#include "tests/server/artifacts/test_jobs.h"

namespace ablate::artifacts {
namespace {

using testing::Decay;
using testing::FakeRun;
using testing::Flat;
using testing::kNaN;
using testing::LabSpec;
using testing::MakeJobData;
using testing::MakeRun;
using testing::ThenNaN;

const Check& FindCheck(const JobSummary& s, const std::string& id) {
  for (const Check& c : s.checks) {
    if (c.id == id) return c;
  }
  ADD_FAILURE() << "no check " << id;
  static const Check kNone;
  return kNone;
}

TEST(SummarizeTest, AnswersTheLabsQuestionsForALabLikeJob) {
  const JobData data = testing::LabLikeJob(7, 60, 2);
  const absl::StatusOr<JobSummary> s = Summarize(data);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->runs.size(), 3u);
  EXPECT_EQ(s->steps_to_nan_uniform, 2);
  EXPECT_EQ(s->flatline_step_uniform, std::nullopt);
  const std::vector<float>& x = data.trajectories[1].losses;
  const std::vector<float>& k = data.trajectories[2].losses;
  EXPECT_EQ(s->final_loss_xavier, x.back());
  EXPECT_EQ(s->final_loss_kaiming, k.back());
  EXPECT_EQ(s->xavier_slope_last200, core::TailSlope(x, 200));
  EXPECT_DOUBLE_EQ(s->chance, std::log(2.0));

  EXPECT_EQ(s->runs[0].verdict, Verdict::kDiverged);
  EXPECT_EQ(s->runs[0].nonfinite.at(2), "nan");
  EXPECT_EQ(s->runs[0].peak_step, 1);
  EXPECT_EQ(s->runs[1].verdict, Verdict::kLearning);  // 0.693 -> 0.6: falls, stays above 0.35
  EXPECT_EQ(s->runs[2].verdict, Verdict::kTrained);
  EXPECT_EQ(s->uniform_failed, true);
  EXPECT_EQ(s->kaiming_trained, true);
  EXPECT_EQ(s->xavier_in_between, true);

  // Kaiming's first step at or below Xavier's final loss, found independently.
  int expected = -1;
  for (size_t i = 0; i < k.size() && expected < 0; ++i) {
    if (k[i] <= x.back()) expected = static_cast<int>(i);
  }
  EXPECT_EQ(s->kaiming_step_at_xavier_final, expected);

  for (const Check& c : s->checks) EXPECT_FALSE(c.fired) << c.id << ": " << c.message;
}

TEST(SummarizeTest, ARunThatFitsItsTrainingSetButNotValidationMemorises) {
  const JobData data = testing::MemorisingJob();
  const absl::StatusOr<JobSummary> s = Summarize(data);
  ASSERT_TRUE(s.ok()) << s.status();
  const RunSummary& k = s->runs[*s->kaiming];
  const v1::EvalResult& final_eval = data.job.runs(2).final_eval();
  // On training loss kaiming trained, and the lab's expectation counts as met...
  EXPECT_EQ(k.verdict, Verdict::kTrained);
  EXPECT_EQ(s->kaiming_trained, true);
  // ...but its validation says it memorised: loss above chance, accuracy near it.
  ASSERT_TRUE(k.last_eval.has_value());
  EXPECT_EQ(k.last_eval->loss(), final_eval.loss());
  EXPECT_GT(final_eval.loss(), s->chance);
  EXPECT_EQ(k.generalisation, Generalisation::kMemorises);
  EXPECT_EQ(s->kaiming_generalises, false);
  EXPECT_EQ(s->val_loss_kaiming, final_eval.loss());
  EXPECT_EQ(s->val_accuracy_kaiming, final_eval.accuracy());
  // Its best validation was the first, before the loss rose.
  ASSERT_TRUE(k.best_eval.has_value());
  EXPECT_EQ(k.best_eval->step(), data.trajectories[2].evals.front().step);
  // Xavier: validation loss below chance, 64.5% > 50% + 10%: generalises.
  const RunSummary& x = s->runs[*s->xavier];
  EXPECT_EQ(x.generalisation, Generalisation::kGeneralises);
  EXPECT_EQ(s->xavier_generalises, true);
  // Uniform stopped before its first validation.
  EXPECT_EQ(s->runs[*s->uniform].generalisation, Generalisation::kNoValidation);
}

// Fitting the training set with validation accuracy well above chance is not memorising: the
// run learned much of the rule and is confidently wrong on the rest (its validation loss above
// chance). Said before of runs at 75-83 % validation accuracy.
TEST(SummarizeTest, ATrainedRunWellAboveChanceAccuracyButAboveChanceLossOverfits) {
  JobData data = testing::MemorisingJob();
  data.job.mutable_runs(2)->mutable_final_eval()->set_accuracy(0.79f);
  const absl::StatusOr<JobSummary> s = Summarize(data);
  ASSERT_TRUE(s.ok()) << s.status();
  const RunSummary& k = s->runs[*s->kaiming];
  ASSERT_TRUE(k.last_eval.has_value());
  EXPECT_GT(k.last_eval->loss(), s->chance);
  EXPECT_EQ(k.generalisation, Generalisation::kOverfits);
  EXPECT_EQ(s->kaiming_generalises, false);
}

TEST(SummarizeTest, AccuracyWithinTheMarginOfChanceIsNotGeneralising) {
  FakeRun k = MakeRun("kaiming", 103, Decay(60, 0.693f, 0.4f));
  k.val_loss = 0.68f;       // below chance...
  k.val_accuracy = 0.59f;   // ...but not 10 points above 50%
  const absl::StatusOr<JobSummary> s = Summarize(MakeJobData(1, LabSpec(60), {k}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->runs[0].generalisation, Generalisation::kNotGeneralising);
  Criteria loose;
  loose.generalisation_margin = 0.05;
  const absl::StatusOr<JobSummary> l = Summarize(MakeJobData(1, LabSpec(60), {k}), loose);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->runs[0].generalisation, Generalisation::kGeneralises);
}

TEST(SummarizeTest, ChecksTheDepthPredictionAgainstADepth24Job) {
  const absl::StatusOr<JobSummary> s = Summarize(testing::DeepJob());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->depth_checks.size(), 3u);
  const DepthCheck& u = s->depth_checks[0];
  const DepthCheck& x = s->depth_checks[1];
  const DepthCheck& k = s->depth_checks[2];
  EXPECT_EQ(u.depth, 24);
  EXPECT_EQ(u.regime, "explodes");
  EXPECT_EQ(u.held, true) << u.observed;
  EXPECT_NE(u.observed.find("step 0"), std::string::npos) << u.observed;
  EXPECT_EQ(x.regime, "vanishes");
  EXPECT_EQ(x.held, true) << x.observed;
  EXPECT_EQ(k.regime, "keeps its scale");
  EXPECT_EQ(k.held, true) << k.observed;
  // The ratio is the prediction's at the job's own depth.
  EXPECT_DOUBLE_EQ(k.ratio, s->predictions[2].ratio);
}

TEST(SummarizeTest, UniformWeightsThatAreAllNonPositiveKillTheSignalWhateverTheirGain) {
  // U[-0.5, 0] has variance 1/48, a ReLU gain of 2.67 a layer ("explodes" by the variance
  // argument), but from the second layer on every pre-activation is <= 0: the output is constant.
  FakeRun dead = MakeRun("uniform", 101, Flat(60, 0.6931f));
  dead.uniform_low = -0.5;
  dead.uniform_high = 0;
  dead.flatline_step = 0;
  FakeRun off_centre = MakeRun("uniform", 102, ThenNaN({1e6f}));
  off_centre.uniform_low = -0.2;
  off_centre.uniform_high = 0.5;
  const absl::StatusOr<JobSummary> s =
      Summarize(MakeJobData(1, LabSpec(60), {dead, off_centre}));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->predictions.size(), 2u);
  const DepthPrediction& p = s->predictions[0];
  EXPECT_EQ(p.regime, "dies");
  EXPECT_NE(p.text.find("every ReLU outputs zero"), std::string::npos) << p.text;
  EXPECT_EQ(p.text.find("blows up"), std::string::npos) << p.text;
  const DepthCheck& c = s->depth_checks[0];
  EXPECT_EQ(c.regime, "dies");
  EXPECT_EQ(c.held, true) << c.observed;
  // Off-centre but of both signs: the variance argument stands, with its assumption named.
  EXPECT_NE(s->predictions[1].regime, "dies");
  EXPECT_NE(s->predictions[1].text.find("A caveat: U[-0.2, 0.5] has mean 0.15"),
            std::string::npos)
      << s->predictions[1].text;
}

TEST(SummarizeTest, ADepthPredictionThatDoesNotHoldSaysSo) {
  // Kaiming "keeps its scale" but this run did not train.
  const absl::StatusOr<JobSummary> s = Summarize(
      MakeJobData(1, LabSpec(60, 24), {MakeRun("kaiming", 103, Flat(60, 0.6931f))}));
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->depth_checks.size(), 1u);
  EXPECT_EQ(s->depth_checks[0].regime, "keeps its scale");
  EXPECT_EQ(s->depth_checks[0].held, false);
}

// A job of 2 steps: uniform's loss at 530,000 x chance is the explosion its gain predicts
// (it said "did not hold" for want of a NaN), and kaiming's "trains" cannot be tested in 2
// steps (it said "did not hold").
TEST(SummarizeTest, ShortRunsShowAnExplosionByItsLossAndLeaveOtherPredictionsUntested) {
  const absl::StatusOr<JobSummary> s = Summarize(MakeJobData(
      1, LabSpec(2), {MakeRun("uniform", 101, {3.674e5f, 1.832e30f}),
                      MakeRun("kaiming", 103, {1.729f, 1.6f})}));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->depth_checks.size(), 2u);
  EXPECT_EQ(s->depth_checks[0].regime, "explodes");
  EXPECT_EQ(s->depth_checks[0].held, true) << s->depth_checks[0].observed;
  EXPECT_NE(s->depth_checks[0].observed.find("× chance"), std::string::npos)
      << s->depth_checks[0].observed;
  EXPECT_EQ(s->depth_checks[1].regime, "keeps its scale");
  EXPECT_EQ(s->depth_checks[1].held, std::nullopt);
}

// Two steps at chance are what any init shows before it has learned anything: they are no
// evidence that Xavier's signal vanishes (it said "held"). A flatline is: it takes a window of
// steps at chance.
TEST(SummarizeTest, AVanishingPredictionIsNotHeldOnTwoStepsAtChance) {
  const absl::StatusOr<JobSummary> s =
      Summarize(MakeJobData(1, LabSpec(2), {MakeRun("xavier", 102, {0.6931f, 0.6930f})}));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->depth_checks.size(), 1u);
  EXPECT_EQ(s->depth_checks[0].regime, "vanishes");
  EXPECT_EQ(s->depth_checks[0].held, std::nullopt) << s->depth_checks[0].observed;
  // A run long enough for the verdicts still tests it.
  const absl::StatusOr<JobSummary> long_run =
      Summarize(MakeJobData(1, LabSpec(60), {MakeRun("xavier", 102, Flat(60, 0.6931f, 0.0005f))}));
  ASSERT_TRUE(long_run.ok());
  EXPECT_EQ(long_run->depth_checks[0].held, true);
}

TEST(SummarizeTest, SpreadsGiveTheMedianAndRangeOverAnInitsSeeds) {
  const JobData data = testing::SeedsJob();
  const absl::StatusOr<JobSummary> s = Summarize(data);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->spreads.size(), 1u);
  const InitSpread& k = s->spreads[0];
  EXPECT_EQ(k.init, "kaiming");
  EXPECT_EQ(k.runs, 3);
  EXPECT_EQ(k.weight_seeds, (std::vector<uint64_t>{101, 102, 103}));
  // From the runs' own final losses and validations, sorted independently.
  std::vector<double> finals, vals, accuracies;
  for (int i = 0; i < 3; ++i) {
    finals.push_back(data.trajectories[i].losses.back());
    vals.push_back(data.job.runs(i).final_eval().loss());
    accuracies.push_back(data.job.runs(i).final_eval().accuracy());
  }
  for (auto* v : {&finals, &vals, &accuracies}) std::sort(v->begin(), v->end());
  ASSERT_TRUE(k.final_loss && k.val_loss && k.val_accuracy);
  EXPECT_EQ(k.final_loss->n, 3);
  EXPECT_DOUBLE_EQ(k.final_loss->min, finals[0]);
  EXPECT_DOUBLE_EQ(k.final_loss->median, finals[1]);
  EXPECT_DOUBLE_EQ(k.final_loss->max, finals[2]);
  EXPECT_DOUBLE_EQ(k.val_loss->median, vals[1]);
  EXPECT_DOUBLE_EQ(k.val_accuracy->min, accuracies[0]);
  EXPECT_DOUBLE_EQ(k.val_accuracy->max, accuracies[2]);
  EXPECT_FALSE(k.first_nonfinite_step.has_value());
  EXPECT_EQ(k.diverged, 0);
  // A job with one run per init has no spread to report.
  const absl::StatusOr<JobSummary> lab = Summarize(testing::LabLikeJob());
  ASSERT_TRUE(lab.ok());
  EXPECT_TRUE(lab->spreads.empty());
}

TEST(SummarizeTest, LayersCarryTheFirstStepGradientNorms) {
  const absl::StatusOr<JobSummary> s = Summarize(testing::DeepJob());
  ASSERT_TRUE(s.ok());
  const RunSummary& k = s->runs[2];
  ASSERT_EQ(k.layers.size(), 24u);
  ASSERT_TRUE(k.layers[3].first_step_grad_norm.has_value());
  EXPECT_DOUBLE_EQ(*k.layers[3].first_step_grad_norm, 0.04);
  // Uniform's step 0 was non-finite: no gradient was taken.
  EXPECT_FALSE(s->runs[0].layers[0].first_step_grad_norm.has_value());
}

TEST(SummarizeTest, UniformThatSaturatesHasNoNaNStepButAFlatlineStep) {
  const absl::StatusOr<JobSummary> s = Summarize(testing::NothingDivergesJob());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->steps_to_nan_uniform, std::nullopt);
  EXPECT_EQ(s->flatline_step_uniform, 12);
  EXPECT_EQ(s->runs[0].verdict, Verdict::kFlatlined);
  EXPECT_EQ(s->uniform_failed, true);
}

TEST(SummarizeTest, AJobWithoutTheLabsInitsLeavesTheirAnswersEmpty) {
  const JobData data =
      MakeJobData(3, LabSpec(30), {MakeRun("orthogonal", 5, Decay(30, 0.69f, 0.3f))});
  const absl::StatusOr<JobSummary> s = Summarize(data);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->uniform.has_value());
  EXPECT_FALSE(s->xavier.has_value());
  EXPECT_FALSE(s->kaiming.has_value());
  EXPECT_EQ(s->steps_to_nan_uniform, std::nullopt);
  EXPECT_EQ(s->final_loss_xavier, std::nullopt);
  EXPECT_EQ(s->final_loss_kaiming, std::nullopt);
  EXPECT_EQ(s->xavier_slope_last200, std::nullopt);
  EXPECT_EQ(s->uniform_failed, std::nullopt);
  ASSERT_EQ(s->predictions.size(), 1u);
  EXPECT_EQ(s->predictions[0].init, "orthogonal");
  // Only checks that make sense for one run apply.
  EXPECT_FALSE(FindCheck(*s, "all_diverged").applicable);
  EXPECT_FALSE(FindCheck(*s, "all_trained").applicable);
  EXPECT_FALSE(FindCheck(*s, "uniform_variance").applicable);
}

TEST(SummarizeTest, RepeatedInitsGetDistinctLabelsAndTheFirstAnswers) {
  FakeRun a = MakeRun("uniform", 1, Decay(30, 0.69f, 0.5f));
  FakeRun b = MakeRun("uniform", 2, ThenNaN(Decay(9, 0.69f, 50.f)));
  FakeRun c = MakeRun("kaiming", 3, Decay(30, 0.69f, 0.1f));
  const absl::StatusOr<JobSummary> s = Summarize(MakeJobData(4, LabSpec(30), {a, b, c}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->runs[0].label, "uniform (run 400)");
  EXPECT_EQ(s->runs[1].label, "uniform (run 401)");
  EXPECT_EQ(s->runs[2].label, "kaiming");
  EXPECT_EQ(s->uniform_runs, 2);
  EXPECT_EQ(s->uniform, 0u);
  // The first uniform run did not diverge, so neither does steps_to_nan_uniform, although the
  // second one did.
  EXPECT_EQ(s->steps_to_nan_uniform, std::nullopt);
  EXPECT_EQ(s->runs[1].first_nonfinite_step, 9);
  // Same scheme and bounds: one prediction.
  EXPECT_EQ(s->predictions.size(), 2u);
}

TEST(SummarizeTest, TailTrendSaysTrainingAlmostNotTrainingOrNotTraining) {
  const int steps = 400;
  // Falls 0.2 over the last 200 steps at a level near 0.5: 40%.
  FakeRun fast = MakeRun("xavier", 1, Decay(steps, 0.9f, 0.3f, 0.0f));
  // Falls 1% over the window.
  std::vector<float> slow;
  for (int i = 0; i < steps; ++i) slow.push_back(0.6f - 0.00003f * static_cast<float>(i));
  FakeRun crawl = MakeRun("kaiming", 2, slow);
  FakeRun flat = MakeRun("uniform", 3, Flat(steps, 0.6931472f, 0.0f));
  const absl::StatusOr<JobSummary> s =
      Summarize(MakeJobData(5, LabSpec(steps), {fast, crawl, flat}));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->runs[0].tail && s->runs[1].tail && s->runs[2].tail);
  EXPECT_EQ(s->runs[0].tail->status, "training");
  EXPECT_EQ(s->runs[1].tail->status, "almost not training");
  EXPECT_NEAR(s->runs[1].tail->slope, -0.00003, 1e-7);
  EXPECT_NEAR(s->runs[1].tail->fitted_drop, 0.00003 * 199, 1e-5);
  EXPECT_EQ(s->runs[2].tail->status, "not training");
  EXPECT_EQ(s->runs[0].tail->first_step, steps - 200);
  EXPECT_EQ(s->runs[0].tail->last_step, steps - 1);
}

TEST(SummarizeTest, PredictsDepthFromEachInitsReluVarianceGain) {
  const absl::StatusOr<JobSummary> s = Summarize(testing::LabLikeJob());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->predictions.size(), 3u);
  const DepthPrediction& u = s->predictions[0];
  const DepthPrediction& x = s->predictions[1];
  const DepthPrediction& k = s->predictions[2];
  // n_in · Var(w) / 2 with n_in = 256: uniform (1/12), xavier (1/256), kaiming (2/256).
  EXPECT_NEAR(u.hidden_gain, 256.0 / 12 / 2, 1e-12);
  EXPECT_DOUBLE_EQ(x.hidden_gain, 0.5);
  EXPECT_DOUBLE_EQ(k.hidden_gain, 1.0);
  EXPECT_EQ(u.depth, 12);
  EXPECT_EQ(u.deeper_depth, 24);
  // Eleven Linear+ReLU layers at depth 12, twenty-three at 24.
  EXPECT_NEAR(u.ratio / std::pow(256.0 / 24, 11), 1, 1e-12);
  EXPECT_NEAR(u.deeper_ratio / std::pow(256.0 / 24, 23), 1, 1e-12);
  EXPECT_DOUBLE_EQ(x.deeper_ratio, std::pow(0.5, 23));
  EXPECT_DOUBLE_EQ(k.deeper_ratio, 1.0);
  EXPECT_EQ(u.regime, "explodes");
  EXPECT_EQ(x.regime, "vanishes");
  EXPECT_EQ(k.regime, "keeps its scale");
  EXPECT_NE(u.text.find("10.7^23"), std::string::npos) << u.text;
  EXPECT_NE(x.text.find("0.5^23 ≈ 1.19e-07"), std::string::npos) << x.text;
  // Twelve more layers at gain 0.5 shrink the variance 4096-fold: the output's scale 64-fold.
  EXPECT_NE(x.text.find("√(4.1e+03) ≈ 64 times smaller than at depth 12"), std::string::npos)
      << x.text;
  // Uniform's step-0 loss (1e12) scaled by the growth of the logits' standard deviation.
  EXPECT_NE(u.text.find("step-0 loss near"), std::string::npos) << u.text;
}

TEST(ChecksTest, IdenticalCurvesFireOnlyForRunsThatShouldDiffer) {
  const std::vector<float> same = Decay(30, 0.69f, 0.3f);
  {
    const absl::StatusOr<JobSummary> s = Summarize(
        MakeJobData(1, LabSpec(30), {MakeRun("xavier", 1, same), MakeRun("kaiming", 2, same)}));
    ASSERT_TRUE(s.ok());
    const Check& c = FindCheck(*s, "curves_identical");
    EXPECT_TRUE(c.fired);
    EXPECT_NE(c.message.find("xavier and kaiming"), std::string::npos) << c.message;
  }
  {  // The same init and seed twice are meant to agree.
    const absl::StatusOr<JobSummary> s = Summarize(
        MakeJobData(1, LabSpec(30), {MakeRun("xavier", 1, same), MakeRun("xavier", 1, same)}));
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(FindCheck(*s, "curves_identical").fired);
  }
  {  // One differing bit in the first ten is enough to pass.
    std::vector<float> other = same;
    other[9] = std::nextafter(other[9], 1.0f);
    const absl::StatusOr<JobSummary> s = Summarize(
        MakeJobData(1, LabSpec(30), {MakeRun("xavier", 1, same), MakeRun("kaiming", 2, other)}));
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(FindCheck(*s, "curves_identical").fired);
  }
}

TEST(ChecksTest, AllDivergedSuggestsATenfoldSmallerLearningRate) {
  const absl::StatusOr<JobSummary> s = Summarize(MakeJobData(
      1, LabSpec(30),
      {MakeRun("uniform", 1, ThenNaN({1e6f})), MakeRun("xavier", 2, ThenNaN(Decay(5, 1, 90))),
       MakeRun("kaiming", 3, ThenNaN(Decay(8, 1, 900)))}));
  ASSERT_TRUE(s.ok());
  const Check& c = FindCheck(*s, "all_diverged");
  EXPECT_TRUE(c.fired);
  EXPECT_NE(c.message.find("0.0001"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("xavier at step 5"), std::string::npos) << c.message;
  EXPECT_FALSE(FindCheck(*s, "all_trained").fired);
}

TEST(ChecksTest, AllTrainedSuggestsDoublingTheDepth) {
  const absl::StatusOr<JobSummary> s = Summarize(MakeJobData(
      1, LabSpec(30),
      {MakeRun("uniform", 1, Decay(30, 0.7f, 0.05f)), MakeRun("xavier", 2, Decay(30, 0.7f, 0.1f)),
       MakeRun("kaiming", 3, Decay(30, 0.7f, 0.01f))}));
  ASSERT_TRUE(s.ok());
  const Check& c = FindCheck(*s, "all_trained");
  EXPECT_TRUE(c.fired);
  EXPECT_NE(c.message.find("to 24"), std::string::npos) << c.message;
  EXPECT_FALSE(FindCheck(*s, "all_diverged").fired);
}

// At depth 3 every run's training loss fell, but uniform's validation is far from the
// others': the check said "the init makes no difference" beside numbers that show it does.
TEST(ChecksTest, AllTrainedDoesNotDenyADifferenceTheValidationShows) {
  FakeRun u = MakeRun("uniform", 1, Decay(30, 0.7f, 0.05f));
  u.val_loss = 1.4f;
  u.val_accuracy = 0.62f;
  FakeRun x = MakeRun("xavier", 2, Decay(30, 0.7f, 0.1f));
  x.val_loss = 0.08f;
  x.val_accuracy = 0.98f;
  FakeRun k = MakeRun("kaiming", 3, Decay(30, 0.7f, 0.01f));
  k.val_loss = 0.06f;
  k.val_accuracy = 0.985f;
  const absl::StatusOr<JobSummary> s = Summarize(MakeJobData(1, LabSpec(30, 3), {u, x, k}));
  ASSERT_TRUE(s.ok());
  const Check& c = FindCheck(*s, "all_trained");
  EXPECT_TRUE(c.fired);  // on the training loss, the lab's pitfall
  EXPECT_EQ(c.message.find("makes no difference"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("uniform: validation loss 1.4, accuracy 62"), std::string::npos)
      << c.message;
  // Validations that agree leave nothing to add.
  for (FakeRun* r : {&u, &x, &k}) {
    r->val_loss = 0.07f;
    r->val_accuracy = 0.98f;
  }
  const absl::StatusOr<JobSummary> same = Summarize(MakeJobData(1, LabSpec(30, 3), {u, x, k}));
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(FindCheck(*same, "all_trained").fired);
  EXPECT_EQ(FindCheck(*same, "all_trained").message.find("validation"), std::string::npos)
      << FindCheck(*same, "all_trained").message;
}

TEST(ChecksTest, UniformVarianceFarFromItsBoundsFires) {
  FakeRun wrong = MakeRun("uniform", 1, Decay(30, 0.7f, 0.5f));
  wrong.weight_variances = {1.0 / 1200};  // U[-0.05, 0.05]'s, not U[-0.5, 0.5]'s
  FakeRun right = MakeRun("uniform", 2, Decay(30, 0.7f, 0.5f));
  right.weight_variances = {0.0829};  // 0.5% off 1/12: sampling noise
  const absl::StatusOr<JobSummary> s =
      Summarize(MakeJobData(1, LabSpec(30), {wrong, right, MakeRun("kaiming", 3, Flat(30, 0.5f))}));
  ASSERT_TRUE(s.ok());
  const Check& c = FindCheck(*s, "uniform_variance");
  EXPECT_TRUE(c.applicable);
  EXPECT_TRUE(c.fired);
  EXPECT_NE(c.message.find("uniform (run 100) drew its first layer with variance 0.000833"),
            std::string::npos)
      << c.message;
  EXPECT_EQ(c.message.find("run 101"), std::string::npos) << c.message;
}

TEST(SummarizeTest, RefusesATrajectoryWithAGap) {
  JobData data = testing::LabLikeJob();
  data.trajectories[1].steps[5] = 6;
  const absl::StatusOr<JobSummary> s = Summarize(data);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("entry 5 is step 6"), std::string::npos) << s.status();
}

TEST(SummarizeTest, TimingComesFromTheRecordedStepTimes) {
  const JobData data = testing::LabLikeJob(7, 60, 2);
  const absl::StatusOr<JobSummary> s = Summarize(data);
  ASSERT_TRUE(s.ok());
  // MakeJobData records steps of 9, 10 and 11 ms in turn.
  const StepTiming& t = s->runs[1].timing;
  double total = 0;
  for (float v : data.trajectories[1].step_seconds) total += v;
  EXPECT_NEAR(t.total_seconds, total, 1e-9);
  EXPECT_NEAR(t.median_seconds, 0.010, 1e-6);
  EXPECT_NEAR(t.p95_seconds, 0.011, 1e-6);
  EXPECT_DOUBLE_EQ(t.run_seconds, data.job.runs(1).seconds());
}

}  // namespace
}  // namespace ablate::artifacts
