#include "server/artifacts/run_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <span>

#include "absl/strings/str_cat.h"
#include "core/analysis.h"
#include "server/artifacts/format.h"
#include "server/convert/core_messages.h"
#include "server/service/wire.h"

namespace ablate::artifacts::metrics {
namespace {

double Mean(std::span<const float> values) {
  double sum = 0;
  for (float v : values) sum += v;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

std::string NonFiniteName(float v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

std::string UniformFormula(double low, double high) {
  return absl::StrCat("U[", Sig(low, 6), ", ", Sig(high, 6), "]");
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

}  // namespace

absl::StatusOr<RunSummary> SummarizeRun(const v1::Job& job, int i, const store::Trajectory& t,
                                        const Criteria& criteria, double chance,
                                        const std::vector<core::LayerShape>& shapes,
                                        std::string label) {
  const v1::Run& run = job.runs(i);
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
  r.label = std::move(label);
  r.weight_seed = run.spec().weight_seed();
  // The job's spec records a run's own data seed (the run as stored keeps its init only).
  const v1::RunSpec* spec_run =
      run.index() >= 0 && run.index() < job.spec().runs_size() ? &job.spec().runs(run.index())
                                                               : nullptr;
  r.data_seed = spec_run != nullptr && spec_run->has_data_seed() ? spec_run->data_seed()
                                                                 : job.spec().data().seed();
  const core::InitConfig init = convert::ToInitConfig(run.spec());
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
  // A validation whose loss is not finite measured no accuracy: the network's outputs are NaN
  // or infinite, and the 0% its comparisons count is no classifier's. From here on its accuracy
  // is NaN, which the files show as null and "n/a".
  const auto measured = [](v1::EvalResult e) {
    if (!std::isfinite(e.loss())) e.set_accuracy(std::numeric_limits<float>::quiet_NaN());
    return e;
  };
  for (const store::EvalRecord& e : t.evals) r.evals.push_back(measured(wire::EvalToProto(e)));
  if (run.has_final_eval()) r.final_eval = measured(run.final_eval());
  if (run.has_flatline_step()) {
    r.flatline_step = run.flatline_step();
    std::vector<float> norms;
    for (size_t k = static_cast<size_t>(std::max(*r.flatline_step, 0));
         k < t.weight_grad_norms.size(); ++k) {
      if (std::isfinite(t.weight_grad_norms[k])) norms.push_back(t.weight_grad_norms[k]);
    }
    if (!norms.empty()) {
      r.flatline_grad_median = core::Percentile(norms, 50);
      r.flatline_grad_max = *std::max_element(norms.begin(), norms.end());
    }
  }

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
  } else if (r.end_level && *r.end_level < criteria.trained_fraction_of_chance * chance) {
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
    const double chance_accuracy = 1.0 / std::max(job.spec().model().classes(), 1);
    const bool above_chance =
        r.last_eval->accuracy() >= chance_accuracy + criteria.generalisation_margin;
    const bool generalises =
        std::isfinite(r.last_eval->loss()) && r.last_eval->loss() < chance && above_chance;
    r.generalisation = generalises                      ? Generalisation::kGeneralises
                       : r.verdict != Verdict::kTrained ? Generalisation::kNotGeneralising
                       : above_chance                   ? Generalisation::kOverfits
                                                        : Generalisation::kMemorises;
    // Whatever the numbers say, a handful of examples cannot tell these apart (Criteria).
    if (job.spec().data().val_size() < criteria.min_validation_examples) {
      r.generalisation = Generalisation::kTooFewExamples;
    }
  }

  if (!r.step_seconds.empty()) {
    r.timing.total_seconds = std::accumulate(r.step_seconds.begin(), r.step_seconds.end(), 0.0);
    r.timing.median_seconds = core::Percentile(r.step_seconds, 50);
    r.timing.p95_seconds = core::Percentile(r.step_seconds, 95);
  }
  r.timing.run_seconds = run.seconds();

  for (int l = 0; l < run.init_stats_size() && l < static_cast<int>(shapes.size()); ++l) {
    const v1::LayerStats& stats = run.init_stats(l);
    LayerInit layer;
    layer.fan_in = shapes[l].fan_in;
    layer.fan_out = shapes[l].fan_out;
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
  return r;
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
        if (std::isfinite(r->last_eval->accuracy())) {
          val_accuracy.push_back(r->last_eval->accuracy());
        }
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

}  // namespace ablate::artifacts::metrics
