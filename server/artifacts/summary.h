// What a finished job's data says: per-run numbers, the lab's four Block D answers, the
// depth prediction and the Pitfalls checks. Every file is rendered from one JobSummary, so the
// README and the manifest cannot disagree. Pure: no store, no clock. Summarize works in three
// parts: per run (run_metrics.h), what lab 1 asks of the runs (lab1_summary.h), and the spread
// over seeds.
#ifndef ABLATE_SERVER_ARTIFACTS_SUMMARY_H_
#define ABLATE_SERVER_ARTIFACTS_SUMMARY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "core/init.h"
#include "server/store/store.h"

namespace ablate::artifacts {

// A job as the store holds it.
struct JobData {
  v1::Job job;                                  // with its runs, in spec order
  std::vector<store::Trajectory> trajectories;  // trajectories[i] is job.runs(i)'s
};

// The thresholds of every judgement the files make; each is stated in the README or the
// manifest's "definitions" wherever it is used.
struct Criteria {
  // Block D question 3: the least-squares slope over the last `slope_window` steps...
  int slope_window = 200;
  // ...and the run counts as training when the fitted line falls by at least this fraction of
  // its mean loss across that window (below it but falling: "almost not training").
  double training_min_drop = 0.05;
  // A run's start and end loss: the mean of its first / last `level_window` finite losses.
  int level_window = 10;
  // Depth prediction "explodes": a finite loss this many times chance also shows it (a run of
  // a step or two can end before its loss overflows).
  double exploded_multiple_of_chance = 1000;
  // A run "trained" when its end loss is below this fraction of chance (ln classes)...
  double trained_fraction_of_chance = 0.5;
  // ...and "learned something" when its end loss is at most (1 - this) times its start loss.
  double learning_min_drop = 0.10;
  // Pitfall "curves identical": runs that differ in init or seed but whose first
  // `identical_prefix` losses are bit-identical.
  int identical_prefix = 10;
  // Pitfall "wrong uniform bounds": the first layer's measured weight variance off by more than
  // this fraction from (high - low)^2 / 12.
  double variance_tolerance = 0.10;
  // Depth prediction: a per-run variance ratio beyond 10^±this many decades counts as
  // exploding or vanishing.
  double regime_decades = 2.0;
  // A run "generalises" when its last validation loss is below chance (ln classes) and its last
  // validation accuracy is at least this far above chance accuracy (1/classes). A run that
  // trained (Verdict::kTrained) without generalising overfits when its accuracy is still this
  // far above chance (it learned much of the rule, and is confidently wrong on the rest, which
  // puts its loss above chance), and memorised its training set when its accuracy is not.
  double generalisation_margin = 0.10;
  // ...and only from a validation set of at least this many examples. A classifier at chance
  // (a coin, for 2 classes) has an accuracy whose standard error over n examples is about
  // 0.5/√n; below (2 · 0.5 / generalisation_margin)^2 = 100 examples the margin is within two
  // standard errors of chance, so a validation that small cannot tell generalising, memorising
  // or overfitting apart (Generalisation::kTooFewExamples).
  int min_validation_examples = 100;
  // Where a run's validation loss was lowest (and so when it began to overfit) is read off its
  // evaluation grid; with fewer than this many evaluations the lowest one says more about where
  // the grid fell than about the curve (every 333 steps of 1000, it is simply the first).
  int min_evals_for_lowest = 5;
};

// How a run went, judged from its losses (see Criteria).
enum class Verdict {
  kNoSteps,      // recorded no step
  kDiverged,     // a NaN or infinite loss
  kFlatlined,    // Run.flatline_step: its loss sat at chance to its last step
  kTrained,      // end loss below trained_fraction_of_chance · chance
  kLearning,     // end loss at least learning_min_drop below its start loss
  kNotLearning,  // neither
};
const char* VerdictName(Verdict verdict);  // "diverged", "learning", "not learning", ...

// What a run's last validation says, beside the verdict on its training loss.
enum class Generalisation {
  kNoValidation,     // no validation was recorded
  kGeneralises,      // validation loss below chance, accuracy above chance by the margin
  kMemorises,        // trained (kTrained), validation accuracy within the margin of chance
  kNotGeneralising,  // neither trained nor generalises
  kOverfits,        // trained, validation accuracy above chance by the margin but loss above chance
  kTooFewExamples,  // fewer than Criteria::min_validation_examples: too small a set to tell
};
const char* GeneralisationName(Generalisation g);  // "generalises", "memorises", ...

// The least-squares line through a run's last losses.
struct TailTrend {
  int first_step = 0;  // the window, inclusive
  int last_step = 0;
  double slope = 0;          // loss per step (core::TailSlope)
  double mean = 0;           // mean loss over the window
  double fitted_drop = 0;    // -slope · (last_step - first_step): the line's fall across it
  double relative_drop = 0;  // fitted_drop / mean
  // "training", "almost not training" (falling, but by less than training_min_drop) or
  // "not training" (flat or rising).
  std::string status;
};

// One Linear layer at init.
struct LayerInit {
  int fan_in = 0;
  int fan_out = 0;
  double weight_variance = 0;               // measured (Run.init_stats)
  std::optional<double> expected_variance;  // the scheme's formula
  std::optional<double> relu_gain;          // core::ReluVarianceGain; not for the last layer
  double activation_mean = 0;
  double activation_std = 0;
  std::optional<double> first_step_grad_norm;  // the weight gradient's L2 norm in step 0
};

struct StepTiming {
  double total_seconds = 0;   // sum of the recorded step times
  double median_seconds = 0;  // of one step
  double p95_seconds = 0;     // nearest rank
  double run_seconds = 0;     // Run.seconds: wall time, step times plus evaluation
};

struct RunSummary {
  int64_t run_id = 0;
  int index = 0;
  std::string init;     // scheme name, "uniform"
  std::string label;    // the init, or "init (run ID)" when the job repeats that init
  std::string formula;  // "U[-0.5, 0.5]", "N(0, 1/n_in)"
  std::string reference;
  uint64_t weight_seed = 0;
  // Its data's seed: the job's data.seed, or its own (JobSpec.vary_data_seed).
  uint64_t data_seed = 0;
  std::optional<double> uniform_low, uniform_high;  // uniform runs only
  v1::RunState state = v1::RUN_STATE_UNSPECIFIED;
  std::string outcome;  // Run.outcome

  std::vector<float> losses;  // losses[s] is step s's, as recorded
  std::vector<float> step_seconds;
  std::optional<int> first_nonfinite_step;
  std::map<int, std::string> nonfinite;  // step -> "nan", "inf", "-inf"
  std::optional<int> flatline_step;
  // The weight-gradient norm over the flatline (its finite values from flatline_step on): the
  // flatline is judged on the loss, and these say how still the weights were.
  std::optional<double> flatline_grad_median, flatline_grad_max;
  std::optional<float> final_loss;               // the last step's (may be non-finite)
  std::optional<double> start_level, end_level;  // Criteria::level_window means
  std::optional<int> peak_step;                  // the largest finite loss
  std::optional<float> peak_loss;
  // Its validations, as stored, except that one whose loss is not finite has a NaN accuracy
  // (no measurement: the 0% the comparisons count of NaN outputs is no classifier's).
  std::optional<v1::EvalResult> final_eval;  // Run.final_eval
  std::vector<v1::EvalResult> evals;
  std::optional<TailTrend> tail;  // none when the window holds a non-finite loss or < 2 steps
  Verdict verdict = Verdict::kNoSteps;
  // The last validation (final_eval, else the last of evals) and what it says.
  std::optional<v1::EvalResult> last_eval;
  Generalisation generalisation = Generalisation::kNoValidation;
  // The lowest validation loss and its step: when the last is well above it while the training
  // loss kept falling, the run overfit after that step.
  std::optional<v1::EvalResult> best_eval;
  StepTiming timing;
  std::vector<LayerInit> layers;
};

// Block D question 4 for one init: its per-layer ReLU variance gain and what doubling the depth
// does to it.
struct DepthPrediction {
  std::string init;                 // the label of the first run with this init
  double first_layer_gain = 0;      // core::ReluVarianceGain of layer 0 (fan_in = input_dim)
  double hidden_gain = 0;           // of a width×width layer
  int depth = 0, deeper_depth = 0;  // the job's and double it
  double ratio = 0;                 // first_layer_gain · hidden_gain^(depth-2): the variance
  double deeper_ratio = 0;          // that reaches the last layer, relative to the input
  // "explodes", "vanishes", "keeps its scale", or "dies" (uniform weights all <= 0: every ReLU
  // after the first layer outputs zero, whatever the gain).
  std::string regime;
  std::string text;                 // the prediction, with its reasons and numbers
};

// Question 4 checked: at the job's own depth, what the init's variance gain predicts (the
// regime) and whether the run did what that regime implies: "explodes" → a non-finite loss or
// a flatline; "vanishes" → no training (loss stays near chance); "keeps its scale" → trained.
struct DepthCheck {
  std::string init;  // the label of the first run with this init
  int depth = 0;
  double ratio = 0;     // the variance reaching the last layer, relative to the input
  std::string regime;   // as DepthPrediction's
  std::string expected;  // what that regime implies, as a clause
  std::string observed;  // what the run did, as a clause
  // Whether it did what the regime implies; nullopt when the run is too short to tell (fewer
  // steps than two Criteria::level_window, the verdicts' own minimum) and did not show it.
  std::optional<bool> held;
};

// The spread of one number over the runs of one init (seeds): nearest-rank median.
struct Spread {
  int n = 0;  // runs with a value
  double min = 0, median = 0, max = 0;
};

// One init's runs, when the job trains it under several seeds.
struct InitSpread {
  std::string init;
  int runs = 0;
  std::vector<uint64_t> weight_seeds;
  std::vector<uint64_t> data_seeds;    // one per run, as weight_seeds
  std::optional<Spread> final_loss;    // over the runs whose final training loss is finite
  std::optional<Spread> val_loss;      // last validation loss
  std::optional<Spread> val_accuracy;  // last validation accuracy
  std::optional<Spread> first_nonfinite_step;  // over the runs that had one
  int diverged = 0;     // runs with a non-finite loss
  int generalised = 0;  // runs judged Generalisation::kGeneralises
  int memorised = 0;    // runs judged Generalisation::kMemorises
};

// A Pitfalls check. Every check is evaluated; `fired` says whether it found the problem.
struct Check {
  std::string id;          // "curves_identical", "all_diverged", "all_trained", "uniform_variance"
  std::string criterion;   // what it tests
  bool applicable = true;  // false when the job lacks what it tests (e.g. no uniform run)
  bool fired = false;
  std::string message;  // when fired: what was found and what to do
};

struct JobSummary {
  const v1::Job* job = nullptr;  // borrowed from the JobData
  Criteria criteria;
  double chance = 0;             // ln(classes): the loss of a constant 50/50 guess for 2 classes
  std::vector<RunSummary> runs;  // in run order

  // The lab's inits: the first run of each (index into runs), and how many the job has.
  std::optional<size_t> uniform, xavier, kaiming;
  int uniform_runs = 0, xavier_runs = 0, kaiming_runs = 0;

  // results_summary. steps_to_nan_uniform is the first non-finite step of the first uniform run
  // (nothing when it did not diverge or the job has none).
  std::optional<int> steps_to_nan_uniform;
  std::optional<int> flatline_step_uniform;
  std::optional<float> final_loss_xavier, final_loss_kaiming;  // their last step's loss
  // Their last validation loss and accuracy, and whether they generalise.
  std::optional<float> val_loss_xavier, val_loss_kaiming;
  std::optional<float> val_accuracy_xavier, val_accuracy_kaiming;
  std::optional<bool> xavier_generalises, kaiming_generalises;
  // Xavier's TailTrend slope over its last Criteria::slope_window steps. The window is 200 by
  // default but configurable; the name (also manifest.json's key) keeps the default so that
  // readers of earlier manifests find it.
  std::optional<double> xavier_slope_last200;
  // The first step where Kaiming's loss was at or below Xavier's final loss.
  std::optional<int> kaiming_step_at_xavier_final;
  // The lab's expected outcome (only when the job has all three inits): uniform diverged or
  // flatlined, kaiming trained, and xavier learned without training (kLearning) to a higher
  // end level than kaiming's.
  std::optional<bool> uniform_failed, kaiming_trained, xavier_in_between;

  std::vector<DepthPrediction> predictions;  // one per distinct init, in run order
  std::vector<DepthCheck> depth_checks;      // one per distinct init, in run order
  std::vector<InitSpread> spreads;           // one per init with two or more runs
  std::vector<Check> checks;
};

// Summarises `data`. InvalidArgument when a trajectory does not belong to its run or its steps
// are not 0, 1, 2, ... in order. The summary borrows data.job.
absl::StatusOr<JobSummary> Summarize(const JobData& data, const Criteria& criteria = {});

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_SUMMARY_H_
