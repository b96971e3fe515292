#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/analysis.h"
#include "server/artifacts/format.h"
#include "server/artifacts/lab1_summary.h"
#include "server/artifacts/run_metrics.h"
#include "server/convert/core_messages.h"

namespace ablate::artifacts::lab1 {
namespace {

// The regime of uniform weights that are all <= 0: the signal dies after the first layer.
constexpr char kDies[] = "dies";

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
  if (p.regime == kDies) {
    // Set by PredictDepths: uniform weights that are all <= 0. The variance gain assumes
    // zero-mean weights; here the sign decides, at any depth.
    p.text = absl::StrCat(
        "its weights are all ≤ 0 (", run.formula,
        "), so the variance gain n_in·Var(w)/2 (which assumes zero-mean weights) does not apply: "
        "from the second layer on every input is a ReLU output (≥ 0) and every weight ≤ 0, so "
        "every pre-activation is ≤ 0 and every ReLU outputs zero. The output is constant "
        "whatever the depth: at depth ",
        p.depth, " ", observed, "; at depth ", p.deeper_depth,
        " expect the same flatline at chance (ln ", spec.model().classes(), " = ",
        Sig(chance, 3), ").");
    return;
  }
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
    // The ratios are of variances: the output's scale shrinks by their square root.
    std::string text =
        absl::StrCat(head, "At init the signal vanishes: the output starts about √(",
                     Sig(p.ratio / p.deeper_ratio, 2), ") ≈ ",
                     Sig(std::sqrt(p.ratio / p.deeper_ratio), 2), " times smaller than at depth ",
                     p.depth, ", the logits almost constant (loss at chance, ln ",
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
  // Too few steps for a verdict to mean anything (the verdicts compare a run's first and last
  // Criteria::level_window steps): such a run tests a prediction only by decisive evidence.
  const auto too_short = [&](const RunSummary& run) {
    return static_cast<int>(run.losses.size()) < 2 * criteria.level_window;
  };
  DepthCheck c;
  c.init = p.init;
  c.depth = p.depth;
  c.ratio = p.ratio;
  c.observed = Observed(r, spec.training().steps());
  if (p.regime == kDies) {
    c.regime = kDies;
    c.expected = "a flatline at chance from the start (the output is constant)";
    c.held = r.verdict == Verdict::kFlatlined || r.verdict == Verdict::kNotLearning;
    // A flatline takes a window of steps at chance; "not learning" over fewer than two verdict
    // windows is only the chance-level start every init has.
    if (too_short(r) && r.verdict != Verdict::kFlatlined) c.held = std::nullopt;
    return c;
  }
  const double decades = std::log10(p.ratio);
  if (!std::isfinite(p.ratio) || p.ratio <= 0) {
    c.regime = decades > 0 || std::isinf(p.ratio) ? "explodes" : "vanishes";
  } else {
    c.regime = decades > criteria.regime_decades    ? "explodes"
               : decades < -criteria.regime_decades ? "vanishes"
                                                    : "keeps its scale";
  }
  const double chance = std::log(static_cast<double>(spec.model().classes()));
  if (c.regime == "explodes") {
    c.expected = absl::StrCat("a non-finite loss, a loss above ",
                              absl::StrFormat("%.0f", criteria.exploded_multiple_of_chance),
                              " × chance, or a saturated flatline at chance, early on");
    float peak = 0;
    for (float loss : r.losses) {
      if (std::isfinite(loss)) peak = std::max(peak, loss);
    }
    const bool exploded = peak > criteria.exploded_multiple_of_chance * chance;
    if (exploded && r.verdict != Verdict::kDiverged) {
      absl::StrAppend(&c.observed, "; its loss reached ", Sig(peak, 3), ", ",
                      Sig(peak / chance, 2), " × chance");
    }
    c.held = r.verdict == Verdict::kDiverged || r.verdict == Verdict::kFlatlined || exploded;
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
  // What a short run can show decisively: a non-finite or huge loss (explodes), a flatline,
  // which itself takes a window of steps at chance (vanishes), an end loss below the trained
  // threshold (keeps its scale). Anything else, held or not, is not yet a test: a loss still
  // near chance after a few steps is where every init starts, not a vanished signal.
  const bool decisive = c.regime == "vanishes" ? r.verdict == Verdict::kFlatlined : *c.held;
  if (too_short(r) && !decisive) c.held = std::nullopt;
  return c;
}

}  // namespace

void PredictDepths(const v1::Job& job, const std::vector<core::LayerShape>& shapes,
                   JobSummary& s) {
  const v1::JobSpec& spec = job.spec();
  const Criteria& criteria = s.criteria;
  // Block D question 4: one prediction per distinct init (scheme and bounds).
  std::set<std::tuple<std::string, double, double>> seen;
  const int depth = spec.model().depth();
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const RunSummary& r = s.runs[i];
    const core::InitConfig init = convert::ToInitConfig(job.runs(static_cast<int>(i)).spec());
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
    const bool uniform = r.uniform_low && r.uniform_high;
    if (uniform && *r.uniform_high <= 0 && depth >= 2) p.regime = kDies;  // a ReLU to kill
    Predict(criteria, spec, r, p);
    if (uniform && p.regime != kDies && *r.uniform_low + *r.uniform_high != 0) {
      absl::StrAppend(&p.text, " A caveat: ", r.formula, " has mean ",
                      Sig((*r.uniform_low + *r.uniform_high) / 2, 3),
                      ", which this variance argument leaves out (it assumes zero-mean weights).");
    }
    s.depth_checks.push_back(CheckDepth(criteria, spec, r, p));
    s.predictions.push_back(std::move(p));
  }
}

}  // namespace ablate::artifacts::lab1
