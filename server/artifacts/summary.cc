#include "server/artifacts/summary.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/analysis.h"
#include "core/config.h"
#include "server/artifacts/format.h"

namespace ablate::artifacts {
namespace {

core::InitConfig ToInitConfig(const v1::RunSpec& spec) {
  core::InitConfig init;
  init.scheme = spec.init();
  init.weight_seed = spec.weight_seed();
  if (spec.has_uniform_low()) init.uniform_low = spec.uniform_low();
  if (spec.has_uniform_high()) init.uniform_high = spec.uniform_high();
  return init;
}

// The fan-in and fan-out of each Linear layer of the job's MLP.
std::vector<std::pair<int, int>> LayerShapes(const v1::ModelSpec& model) {
  std::vector<std::pair<int, int>> shapes;
  const int depth = model.depth();
  for (int l = 0; l < depth; ++l) {
    const int fan_in = l == 0 ? model.input_dim() : model.width();
    const int fan_out = l == depth - 1 ? model.classes() : model.width();
    shapes.emplace_back(fan_in, fan_out);
  }
  return shapes;
}

double Mean(std::span<const float> values) {
  double sum = 0;
  for (float v : values) sum += v;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

// Nearest-rank percentile, p in (0, 100].
double Percentile(std::vector<float> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

std::string NonFiniteName(float v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

bool BitIdentical(std::span<const float> a, std::span<const float> b, size_t n) {
  return std::memcmp(a.data(), b.data(), n * sizeof(float)) == 0;
}

std::string UniformFormula(double low, double high) {
  return absl::StrCat("U[", Sig(low, 6), ", ", Sig(high, 6), "]");
}

// "10.7^23 ≈ 4.4e+23", or with a different first layer "9.5 × 10.7^22 ≈ ...".
std::string RatioFormula(const DepthPrediction& p, int depth) {
  const double ratio = depth == p.depth ? p.ratio : p.deeper_ratio;
  if (depth <= 1) return "1 (no ReLU layer)";
  const bool same = std::abs(p.first_layer_gain - p.hidden_gain) <= 1e-9 * p.hidden_gain;
  std::string formula =
      same ? absl::StrCat(Sig(p.hidden_gain), "^", depth - 1)
           : absl::StrCat(Sig(p.first_layer_gain), " × ", Sig(p.hidden_gain), "^", depth - 2);
  return absl::StrCat(formula, " ≈ ", Sig(ratio, 3));
}

// What the run with this init did at the job's depth, as a clause.
std::string Observed(const RunSummary& run, int steps_planned) {
  switch (run.verdict) {
    case Verdict::kNoSteps:
      return "it recorded no step";
    case Verdict::kDiverged:
      return absl::StrCat("it diverged (first NaN/inf at step ", *run.first_nonfinite_step, ")");
    case Verdict::kFlatlined:
      return absl::StrCat("it flatlined at chance from step ", *run.flatline_step);
    case Verdict::kTrained:
    case Verdict::kLearning:
    case Verdict::kNotLearning:
      break;
  }
  // Prose carries 4 significant digits (the JSON files keep every bit).
  std::string clause =
      absl::StrCat("its loss went from ", Sig(run.losses.front(), 4), " at step 0 to ",
                   Sig(*run.final_loss, 4), " at step ", run.losses.size() - 1);
  if (static_cast<int>(run.losses.size()) < steps_planned) {
    absl::StrAppend(&clause, " (of ", steps_planned, " planned)");
  }
  return clause;
}

void Predict(const Criteria& criteria, const v1::JobSpec& spec, const RunSummary& run,
             DepthPrediction& p) {
  const double chance = std::log(static_cast<double>(spec.model().classes()));
  const std::string observed = Observed(run, spec.training().steps());
  const int width = spec.model().width();
  const std::string head = absl::StrCat(
      "its per-layer gain is n_in·Var(w)/2 = ", width, " × ", Sig(2 * p.hidden_gain / width, 3),
      " / 2 = ", Sig(p.hidden_gain, 3), ", so the variance reaching the last layer is ",
      RatioFormula(p, p.depth), " times the input's at depth ", p.depth, " and ",
      RatioFormula(p, p.deeper_depth), " at depth ", p.deeper_depth, ". ");
  const double decades = std::log10(p.deeper_ratio);
  if (!std::isfinite(p.ratio) || !std::isfinite(p.deeper_ratio) || p.ratio <= 0 ||
      p.deeper_ratio <= 0) {
    // Beyond double's range: nothing finite to compare, and no network survives it.
    p.regime = decades > 0 ? "explodes" : "vanishes";
    p.text = absl::StrCat(head, "That is beyond double precision: at depth ", p.depth, " ",
                          observed, "; at depth ", p.deeper_depth, " expect ",
                          decades > 0 ? "inf/NaN from step 0." : "a constant output at chance.");
    return;
  }
  if (decades > criteria.regime_decades) {
    p.regime = "explodes";
    // Huge logits make the cross-entropy about as large as the logit gap, which scales with
    // the standard deviation: sqrt of the variance ratio.
    const double scale = std::sqrt(p.deeper_ratio / p.ratio);
    std::string text =
        absl::StrCat(head, "At init the forward pass blows up. At depth ", p.depth, " ", observed,
                     ". At depth ", p.deeper_depth, " its logits start about √(",
                     Sig(p.deeper_ratio / p.ratio, 2), ") ≈ ", Sig(scale, 2), " times larger");
    if (!run.losses.empty() && std::isfinite(run.losses.front()) &&
        run.losses.front() > 10 * chance) {
      const double expected = run.losses.front() * scale;
      if (expected > std::numeric_limits<float>::max()) {
        absl::StrAppend(&text, ": beyond float32's range, so expect inf/NaN at step 0");
      } else {
        absl::StrAppend(&text, ", so expect a step-0 loss near ", Sig(run.losses.front(), 4),
                        " × ", Sig(scale, 2), " ≈ ", Sig(expected, 2));
      }
    }
    if (run.verdict == Verdict::kDiverged || run.verdict == Verdict::kFlatlined) {
      absl::StrAppend(&text, ", and it will fail at least as early.");
    } else {
      absl::StrAppend(&text, ": expect it to diverge (NaN) or saturate, where at depth ", p.depth,
                      " it did not.");
    }
    p.text = text;
  } else if (decades < -criteria.regime_decades) {
    p.regime = "vanishes";
    std::string text =
        absl::StrCat(head, "At init the signal vanishes: the output is ",
                     Sig(p.ratio / p.deeper_ratio, 2), " times smaller than at depth ", p.depth,
                     ", the logits start almost constant (loss at chance, ln ",
                     spec.model().classes(), " = ", Sig(chance, 3),
                     ") and the backward pass shrinks the early layers' gradients alike. At depth ",
                     p.depth, " ", observed, "; at depth ", p.deeper_depth);
    if (run.verdict == Verdict::kFlatlined || run.verdict == Verdict::kNotLearning) {
      absl::StrAppend(&text, " expect it to stay at chance (flatline) even longer.");
    } else if (run.verdict == Verdict::kDiverged) {
      absl::StrAppend(&text,
                      " the variance argument predicts vanishing, not divergence: its divergence "
                      "at depth ",
                      p.depth, " points at the learning rate, not the init.");
    } else {
      absl::StrAppend(&text, " expect it to crawl even more slowly, or flatline at chance.");
    }
    p.text = text;
  } else {
    p.regime = "keeps its scale";
    std::string text = absl::StrCat(head, "Neither exploding nor vanishing. At depth ", p.depth,
                                    " ", observed, "; at depth ", p.deeper_depth);
    if (run.verdict == Verdict::kTrained || run.verdict == Verdict::kLearning) {
      absl::StrAppend(&text,
                      " it should still train, perhaps more slowly or noisily with twice the "
                      "layers, but without blow-up or vanishing signal.");
    } else {
      absl::StrAppend(&text,
                      " the init is not what held it back (its variance is preserved), so "
                      "expect the same behaviour; look at the learning rate and steps instead.");
    }
    p.text = text;
  }
}

// The regime `p` predicts at the job's own depth, and whether run `r` behaved as it implies.
DepthCheck CheckDepth(const Criteria& criteria, const v1::JobSpec& spec, const RunSummary& r,
                      const DepthPrediction& p) {
  DepthCheck c;
  c.init = p.init;
  c.depth = p.depth;
  c.ratio = p.ratio;
  const double decades = std::log10(p.ratio);
  if (!std::isfinite(p.ratio) || p.ratio <= 0) {
    c.regime = decades > 0 || std::isinf(p.ratio) ? "explodes" : "vanishes";
  } else {
    c.regime = decades > criteria.regime_decades    ? "explodes"
               : decades < -criteria.regime_decades ? "vanishes"
                                                    : "keeps its scale";
  }
  c.observed = Observed(r, spec.training().steps());
  if (c.regime == "explodes") {
    c.expected = "a non-finite loss (or a saturated flatline at chance) early on";
    c.held = r.verdict == Verdict::kDiverged || r.verdict == Verdict::kFlatlined;
  } else if (c.regime == "vanishes") {
    c.expected = "no training: the loss stays near chance";
    c.held = r.verdict == Verdict::kFlatlined || r.verdict == Verdict::kNotLearning;
    if (r.tail) {
      absl::StrAppend(&c.observed, "; its slope over steps ", r.tail->first_step, "–",
                      r.tail->last_step, " is ", Sig(r.tail->slope, 2), " per step (",
                      r.tail->status, ")");
    }
  } else {
    c.expected = absl::StrCat("it trains (end loss below ",
                              Sig(criteria.trained_fraction_of_chance, 2), " × chance)");
    c.held = r.verdict == Verdict::kTrained;
  }
  return c;
}

// Nearest-rank median and the extremes of `values` (not empty).
Spread SpreadOf(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  Spread spread;
  spread.n = static_cast<int>(values.size());
  spread.min = values.front();
  spread.max = values.back();
  spread.median = values[(values.size() - 1) / 2];
  return spread;
}

std::vector<InitSpread> Spreads(const JobSummary& s) {
  std::vector<InitSpread> spreads;
  std::vector<std::string> order;
  std::map<std::string, std::vector<const RunSummary*>> by_init;
  for (const RunSummary& r : s.runs) {
    if (by_init[r.init].empty()) order.push_back(r.init);
    by_init[r.init].push_back(&r);
  }
  for (const std::string& init : order) {
    const std::vector<const RunSummary*>& runs = by_init[init];
    if (runs.size() < 2) continue;
    InitSpread spread;
    spread.init = init;
    spread.runs = static_cast<int>(runs.size());
    std::vector<double> final_loss, val_loss, val_accuracy, nan_step;
    for (const RunSummary* r : runs) {
      spread.weight_seeds.push_back(r->weight_seed);
      spread.data_seeds.push_back(r->data_seed);
      if (r->final_loss && std::isfinite(*r->final_loss)) final_loss.push_back(*r->final_loss);
      if (r->last_eval) {
        if (std::isfinite(r->last_eval->loss())) val_loss.push_back(r->last_eval->loss());
        val_accuracy.push_back(r->last_eval->accuracy());
      }
      if (r->first_nonfinite_step) {
        nan_step.push_back(*r->first_nonfinite_step);
        ++spread.diverged;
      }
      spread.generalised += r->generalisation == Generalisation::kGeneralises;
      spread.memorised += r->generalisation == Generalisation::kMemorises;
    }
    if (!final_loss.empty()) spread.final_loss = SpreadOf(final_loss);
    if (!val_loss.empty()) spread.val_loss = SpreadOf(val_loss);
    if (!val_accuracy.empty()) spread.val_accuracy = SpreadOf(val_accuracy);
    if (!nan_step.empty()) spread.first_nonfinite_step = SpreadOf(nan_step);
    spreads.push_back(std::move(spread));
  }
  return spreads;
}

Check MakeCheck(std::string id, std::string criterion) {
  Check check;
  check.id = std::move(id);
  check.criterion = std::move(criterion);
  return check;
}

void RunChecks(const v1::JobSpec& spec, JobSummary& s) {
  const Criteria& c = s.criteria;
  const auto labels = [&](auto&& predicate) {
    std::vector<std::string> out;
    for (const RunSummary& r : s.runs) {
      if (predicate(r)) out.push_back(r.label);
    }
    return out;
  };

  {  // Pitfall 1: all three curves look identical.
    Check check = MakeCheck(
        "curves_identical",
        absl::StrCat("two runs that differ in init or weight seed have bit-identical first ",
                     c.identical_prefix,
                     " losses (the model was not re-initialised between runs)"));
    check.applicable = false;
    std::vector<std::string> pairs;
    for (size_t i = 0; i < s.runs.size(); ++i) {
      for (size_t j = i + 1; j < s.runs.size(); ++j) {
        const RunSummary& a = s.runs[i];
        const RunSummary& b = s.runs[j];
        if (std::tie(a.init, a.weight_seed, a.uniform_low, a.uniform_high) ==
            std::tie(b.init, b.weight_seed, b.uniform_low, b.uniform_high)) {
          continue;  // the same init and seed are meant to give the same curve
        }
        const size_t n =
            std::min({a.losses.size(), b.losses.size(), static_cast<size_t>(c.identical_prefix)});
        if (n < 2) continue;
        check.applicable = true;
        if (BitIdentical(a.losses, b.losses, n)) {
          pairs.push_back(absl::StrCat(a.label, " and ", b.label));
        }
      }
    }
    if (!pairs.empty()) {
      check.fired = true;
      check.message = absl::StrCat(
          "The first losses of ", absl::StrJoin(pairs, "; "),
          " are bit-identical although their inits or seeds differ: the runs were probably not "
          "re-initialised (build the model afresh for every run, not just zero its gradients).");
    }
    s.checks.push_back(check);
  }

  const int depth = spec.model().depth();
  {  // Pitfall 2: all three curves diverge.
    Check check = MakeCheck("all_diverged", "every run (of two or more) has a non-finite loss");
    check.applicable = s.runs.size() >= 2;
    if (check.applicable && std::all_of(s.runs.begin(), s.runs.end(), [](const RunSummary& r) {
          return r.verdict == Verdict::kDiverged;
        })) {
      check.fired = true;
      std::vector<std::string> steps;
      for (const RunSummary& r : s.runs) {
        steps.push_back(absl::StrCat(r.label, " at step ", *r.first_nonfinite_step));
      }
      const double lr = spec.training().lr();
      check.message =
          absl::StrCat("Every run diverged (", absl::StrJoin(steps, ", "), "): the learning rate ",
                       Sig(lr, 6), " is too high for this network. Drop it tenfold, to ",
                       Sig(lr / 10, 6), ", and try again.");
    }
    s.checks.push_back(check);
  }

  {  // Pitfall 3: all three curves train fine.
    std::set<std::string> inits;
    for (const RunSummary& r : s.runs) inits.insert(r.init);
    Check check = MakeCheck(
        "all_trained",
        absl::StrCat("every run, with two or more different inits, trained (end loss below ",
                     Sig(c.trained_fraction_of_chance, 2), " × chance)"));
    check.applicable = inits.size() >= 2;
    if (check.applicable && std::all_of(s.runs.begin(), s.runs.end(), [](const RunSummary& r) {
          return r.verdict == Verdict::kTrained;
        })) {
      check.fired = true;
      const int deeper = std::min(2 * depth, core::kMaxDepth);
      check.message =
          absl::StrCat("Every run trained (",
                       absl::StrJoin(labels([](const RunSummary&) { return true; }), ", "),
                       "): at depth ", depth,
                       " the init makes no difference, so the network is too shallow to "
                       "show the effect. Increase the depth",
                       deeper > depth ? absl::StrCat(" to ", deeper) : std::string(),
                       " (the lab suggests 24 layers).");
    }
    s.checks.push_back(check);
  }

  {  // Hint of last resort: uniform's first-layer variance should be (high-low)^2/12.
    Check check = MakeCheck(
        "uniform_variance",
        absl::StrCat("each uniform run's first-layer weight variance is within ",
                     Percent(c.variance_tolerance, 2),
                     " of (high - low)^2/12 (or 4 standard errors of the sample variance, if "
                     "larger)"));
    check.applicable = false;
    std::vector<std::string> problems;
    for (const RunSummary& r : s.runs) {
      if (r.init != "uniform" || r.layers.empty() || !r.layers[0].expected_variance) continue;
      check.applicable = true;
      const LayerInit& layer = r.layers[0];
      const double expected = *layer.expected_variance;
      const double n = static_cast<double>(layer.fan_in) * layer.fan_out;
      // A uniform sample's variance has relative standard error sqrt((kurtosis - 1) / n), and a
      // uniform distribution's kurtosis is 1.8.
      const double tolerance = std::max(c.variance_tolerance, 4 * std::sqrt(0.8 / n));
      if (expected > 0 && std::abs(layer.weight_variance / expected - 1) > tolerance) {
        problems.push_back(absl::StrCat(r.label, " drew its first layer with variance ",
                                        Sig(layer.weight_variance, 3), " where ", r.formula,
                                        " has ", Sig(expected, 3)));
      }
    }
    if (!problems.empty()) {
      check.fired = true;
      check.message = absl::StrCat(
          absl::StrJoin(problems, "; "),
          ": the weights were not drawn from the bounds the spec asks for. Recheck the init's "
          "bounds (the lab: U[-0.5, 0.5] has variance 1/12 = 0.0833; U[-0.05, 0.05] only "
          "0.000833).");
    }
    s.checks.push_back(check);
  }
}

}  // namespace

const char* GeneralisationName(Generalisation g) {
  switch (g) {
    case Generalisation::kNoValidation:
      return "no validation";
    case Generalisation::kGeneralises:
      return "generalises";
    case Generalisation::kMemorises:
      return "memorises";
    case Generalisation::kNotGeneralising:
      return "does not generalise";
  }
  return "unknown";
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kNoSteps:
      return "no steps";
    case Verdict::kDiverged:
      return "diverged";
    case Verdict::kFlatlined:
      return "flatlined";
    case Verdict::kTrained:
      return "trained";
    case Verdict::kLearning:
      return "learning";
    case Verdict::kNotLearning:
      return "not learning";
  }
  return "unknown";
}

absl::StatusOr<JobSummary> Summarize(const JobData& data, const Criteria& criteria) {
  const v1::Job& job = data.job;
  const v1::JobSpec& spec = job.spec();
  if (static_cast<int>(data.trajectories.size()) != job.runs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job.id(), " has ", job.runs_size(),
                                                   " runs but ", data.trajectories.size(),
                                                   " trajectories were given."));
  }
  JobSummary s;
  s.job = &job;
  s.criteria = criteria;
  s.chance = std::log(static_cast<double>(std::max(spec.model().classes(), 1)));
  const auto shapes = LayerShapes(spec.model());

  std::map<std::string, int> init_count;
  for (const v1::Run& run : job.runs()) ++init_count[run.spec().init()];

  for (int i = 0; i < job.runs_size(); ++i) {
    const v1::Run& run = job.runs(i);
    const store::Trajectory& t = data.trajectories[i];
    if (t.run_id != run.id()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trajectory ", i, " is run ", t.run_id, "'s, not run ", run.id(), "'s."));
    }
    for (size_t k = 0; k < t.steps.size(); ++k) {
      if (t.steps[k] != static_cast<int32_t>(k)) {
        return absl::InvalidArgumentError(
            absl::StrCat("run ", run.id(),
                         "'s trajectory does not hold steps 0, 1, 2, ...: "
                         "entry ",
                         k, " is step ", t.steps[k], "."));
      }
    }
    if (t.losses.size() != t.steps.size()) {
      return absl::InvalidArgumentError(absl::StrCat("run ", run.id(), "'s trajectory has ",
                                                     t.steps.size(), " steps but ", t.losses.size(),
                                                     " losses."));
    }

    RunSummary r;
    r.run_id = run.id();
    r.index = run.index();
    r.init = run.spec().init();
    r.label = init_count[r.init] > 1 ? absl::StrCat(r.init, " (run ", r.run_id, ")") : r.init;
    r.weight_seed = run.spec().weight_seed();
    // The job's spec records a run's own data seed (the run as stored keeps its init only).
    const v1::RunSpec* spec_run =
        run.index() >= 0 && run.index() < job.spec().runs_size() ? &job.spec().runs(run.index())
                                                                 : nullptr;
    r.data_seed = spec_run != nullptr && spec_run->has_data_seed() ? spec_run->data_seed()
                                                                   : job.spec().data().seed();
    const core::InitConfig init = ToInitConfig(run.spec());
    const core::InitScheme* scheme = core::FindInitScheme(r.init);
    if (r.init == "uniform") {
      r.uniform_low = init.uniform_low;
      r.uniform_high = init.uniform_high;
      r.formula = UniformFormula(init.uniform_low, init.uniform_high);
    } else if (scheme != nullptr) {
      r.formula = std::string(scheme->formula);
    }
    if (scheme != nullptr) r.reference = std::string(scheme->reference);
    r.state = run.state();
    r.outcome = run.outcome();
    r.losses = t.losses;
    r.step_seconds = t.step_seconds;
    r.evals = t.evals;
    if (run.has_final_eval()) r.final_eval = run.final_eval();
    if (run.has_flatline_step()) r.flatline_step = run.flatline_step();

    for (size_t k = 0; k < r.losses.size(); ++k) {
      const float v = r.losses[k];
      if (!std::isfinite(v)) {
        r.nonfinite[static_cast<int>(k)] = NonFiniteName(v);
      } else if (!r.peak_loss || v > *r.peak_loss) {
        r.peak_loss = v;
        r.peak_step = static_cast<int>(k);
      }
    }
    r.first_nonfinite_step = core::FirstNonFinite(r.losses);
    if (!r.losses.empty()) r.final_loss = r.losses.back();

    std::vector<float> finite;
    for (float v : r.losses) {
      if (std::isfinite(v)) finite.push_back(v);
    }
    const size_t level_n = static_cast<size_t>(std::max(criteria.level_window, 1));
    if (!finite.empty()) {
      const size_t n = std::min(level_n, finite.size());
      r.start_level = Mean(std::span(finite).first(n));
    }
    if (!r.losses.empty()) {
      const size_t n = std::min(level_n, r.losses.size());
      const auto last = std::span(r.losses).last(n);
      if (std::all_of(last.begin(), last.end(), [](float v) { return std::isfinite(v); })) {
        r.end_level = Mean(last);
      }
    }

    if (std::optional<double> slope = core::TailSlope(r.losses, criteria.slope_window)) {
      TailTrend trend;
      const int n = std::min(static_cast<int>(r.losses.size()), criteria.slope_window);
      trend.first_step = static_cast<int>(r.losses.size()) - n;
      trend.last_step = static_cast<int>(r.losses.size()) - 1;
      trend.slope = *slope;
      trend.mean = Mean(std::span(r.losses).last(n));
      trend.fitted_drop = -*slope * (trend.last_step - trend.first_step);
      trend.relative_drop = trend.mean > 0 ? trend.fitted_drop / trend.mean : 0;
      trend.status = trend.relative_drop >= criteria.training_min_drop ? "training"
                     : trend.relative_drop > 0                         ? "almost not training"
                                                                       : "not training";
      r.tail = trend;
    }

    if (r.losses.empty()) {
      r.verdict = Verdict::kNoSteps;
    } else if (r.first_nonfinite_step) {
      r.verdict = Verdict::kDiverged;
    } else if (r.flatline_step) {
      r.verdict = Verdict::kFlatlined;
    } else if (r.end_level && *r.end_level < criteria.trained_fraction_of_chance * s.chance) {
      r.verdict = Verdict::kTrained;
    } else if (r.end_level && r.start_level &&
               *r.end_level <= (1 - criteria.learning_min_drop) * *r.start_level) {
      r.verdict = Verdict::kLearning;
    } else {
      r.verdict = Verdict::kNotLearning;
    }

    if (r.final_eval) {
      r.last_eval = r.final_eval;
    } else if (!r.evals.empty()) {
      r.last_eval = r.evals.back();
    }
    for (const v1::EvalResult& e : r.evals) {
      if (std::isfinite(e.loss()) && (!r.best_eval || e.loss() < r.best_eval->loss())) {
        r.best_eval = e;
      }
    }
    if (r.last_eval) {
      const double chance_accuracy = 1.0 / std::max(spec.model().classes(), 1);
      const bool generalises =
          std::isfinite(r.last_eval->loss()) && r.last_eval->loss() < s.chance &&
          r.last_eval->accuracy() >= chance_accuracy + criteria.generalisation_margin;
      r.generalisation = generalises                      ? Generalisation::kGeneralises
                         : r.verdict == Verdict::kTrained ? Generalisation::kMemorises
                                                          : Generalisation::kNotGeneralising;
    }

    if (!r.step_seconds.empty()) {
      r.timing.total_seconds = std::accumulate(r.step_seconds.begin(), r.step_seconds.end(), 0.0);
      r.timing.median_seconds = Percentile(r.step_seconds, 50);
      r.timing.p95_seconds = Percentile(r.step_seconds, 95);
    }
    r.timing.run_seconds = run.seconds();

    for (int l = 0; l < run.init_stats_size() && l < static_cast<int>(shapes.size()); ++l) {
      const v1::LayerStats& stats = run.init_stats(l);
      LayerInit layer;
      layer.fan_in = shapes[l].first;
      layer.fan_out = shapes[l].second;
      layer.weight_variance = stats.weight_variance();
      layer.activation_mean = stats.activation_mean();
      layer.activation_std = stats.activation_std();
      if (stats.has_first_step_grad_norm()) {
        layer.first_step_grad_norm = stats.first_step_grad_norm();
      }
      if (scheme != nullptr) {
        layer.expected_variance = scheme->variance(layer.fan_in, layer.fan_out, init);
        if (l + 1 < static_cast<int>(shapes.size())) {
          layer.relu_gain = core::ReluVarianceGain(*scheme, layer.fan_in, layer.fan_out, init);
        }
      }
      r.layers.push_back(layer);
    }
    s.runs.push_back(std::move(r));
  }

  for (size_t i = 0; i < s.runs.size(); ++i) {
    const std::string& init = s.runs[i].init;
    auto note = [&](std::optional<size_t>& first, int& count) {
      if (!first) first = i;
      ++count;
    };
    if (init == "uniform") note(s.uniform, s.uniform_runs);
    if (init == "xavier") note(s.xavier, s.xavier_runs);
    if (init == "kaiming") note(s.kaiming, s.kaiming_runs);
  }
  if (s.uniform) {
    s.steps_to_nan_uniform = s.runs[*s.uniform].first_nonfinite_step;
    s.flatline_step_uniform = s.runs[*s.uniform].flatline_step;
  }
  if (s.xavier) {
    const RunSummary& x = s.runs[*s.xavier];
    s.final_loss_xavier = x.final_loss;
    if (x.tail) s.xavier_slope_last200 = x.tail->slope;
  }
  if (s.kaiming) s.final_loss_kaiming = s.runs[*s.kaiming].final_loss;
  const auto validation = [](const RunSummary& r, std::optional<float>& loss,
                             std::optional<float>& accuracy, std::optional<bool>& generalises) {
    if (!r.last_eval) return;
    loss = r.last_eval->loss();
    accuracy = r.last_eval->accuracy();
    generalises = r.generalisation == Generalisation::kGeneralises;
  };
  if (s.xavier) {
    validation(s.runs[*s.xavier], s.val_loss_xavier, s.val_accuracy_xavier,
               s.xavier_generalises);
  }
  if (s.kaiming) {
    validation(s.runs[*s.kaiming], s.val_loss_kaiming, s.val_accuracy_kaiming,
               s.kaiming_generalises);
  }
  if (s.xavier && s.kaiming && s.final_loss_xavier && std::isfinite(*s.final_loss_xavier)) {
    const std::vector<float>& k = s.runs[*s.kaiming].losses;
    for (size_t step = 0; step < k.size(); ++step) {
      if (std::isfinite(k[step]) && k[step] <= *s.final_loss_xavier) {
        s.kaiming_step_at_xavier_final = static_cast<int>(step);
        break;
      }
    }
  }
  if (s.uniform && s.xavier && s.kaiming) {
    const RunSummary& u = s.runs[*s.uniform];
    const RunSummary& x = s.runs[*s.xavier];
    const RunSummary& k = s.runs[*s.kaiming];
    s.uniform_failed = u.verdict == Verdict::kDiverged || u.verdict == Verdict::kFlatlined;
    s.kaiming_trained = k.verdict == Verdict::kTrained;
    s.xavier_in_between = x.verdict != Verdict::kDiverged && x.verdict != Verdict::kFlatlined &&
                          x.verdict != Verdict::kNoSteps && x.end_level && k.end_level &&
                          *x.end_level > *k.end_level;
  }

  // Block D question 4: one prediction per distinct init (scheme and bounds).
  std::set<std::tuple<std::string, double, double>> seen;
  const int depth = spec.model().depth();
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const RunSummary& r = s.runs[i];
    const core::InitConfig init = ToInitConfig(job.runs(static_cast<int>(i)).spec());
    const core::InitScheme* scheme = core::FindInitScheme(r.init);
    if (scheme == nullptr || shapes.empty()) continue;
    if (!seen.insert({r.init, r.uniform_low.value_or(0), r.uniform_high.value_or(0)}).second) {
      continue;
    }
    DepthPrediction p;
    p.init = r.label;
    p.depth = depth;
    p.deeper_depth = 2 * depth;
    const int width = spec.model().width();
    p.first_layer_gain = core::ReluVarianceGain(*scheme, spec.model().input_dim(), width, init);
    p.hidden_gain = core::ReluVarianceGain(*scheme, width, width, init);
    const auto ratio = [&](int d) {
      return d <= 1 ? 1.0 : p.first_layer_gain * core::StackedVarianceGain(p.hidden_gain, d - 2);
    };
    p.ratio = ratio(p.depth);
    p.deeper_ratio = ratio(p.deeper_depth);
    Predict(criteria, spec, r, p);
    s.depth_checks.push_back(CheckDepth(criteria, spec, r, p));
    s.predictions.push_back(std::move(p));
  }
  s.spreads = Spreads(s);

  RunChecks(spec, s);
  return s;
}

}  // namespace ablate::artifacts
