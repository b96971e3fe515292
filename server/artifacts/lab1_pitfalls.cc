#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/config.h"
#include "server/artifacts/format.h"
#include "server/artifacts/lab1_summary.h"

namespace ablate::artifacts::lab1 {
namespace {

bool BitIdentical(std::span<const float> a, std::span<const float> b, size_t n) {
  return std::memcmp(a.data(), b.data(), n * sizeof(float)) == 0;
}

Check MakeCheck(std::string id, std::string criterion) {
  Check check;
  check.id = std::move(id);
  check.criterion = std::move(criterion);
  return check;
}

}  // namespace

void RunPitfallChecks(const v1::JobSpec& spec, JobSummary& s) {
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
      // The pitfall is about the training curves. Their validations may still differ (a run
      // that fits its training set can memorise or overfit), and then the init did make a
      // difference: say so rather than deny what the numbers beside this check show.
      const double chance_accuracy = 1.0 / std::max(spec.model().classes(), 1);
      std::set<Generalisation> judged;
      double lowest = 1, highest = 0;
      std::vector<std::string> validations;
      for (const RunSummary& r : s.runs) {
        if (!r.last_eval) continue;
        judged.insert(r.generalisation);
        const float accuracy = r.last_eval->accuracy();
        if (std::isfinite(accuracy)) {
          lowest = std::min<double>(lowest, accuracy);
          highest = std::max<double>(highest, accuracy);
        }
        validations.push_back(
            absl::StrCat(r.label, ": validation loss ", Sig(r.last_eval->loss(), 3), ", accuracy ",
                         Percent(accuracy), ", ", GeneralisationName(r.generalisation)));
      }
      const bool validation_differs =
          judged.size() > 1 || highest - lowest >= c.generalisation_margin;
      check.message = absl::StrCat(
          "Every run trained (",
          absl::StrJoin(labels([](const RunSummary&) { return true; }), ", "), "): at depth ",
          depth,
          " the init does not decide whether the training loss falls, so the network is "
          "too shallow to show the lab's effect. ");
      if (validation_differs) {
        absl::StrAppend(&check.message, "Their validations differ, though (",
                        absl::StrJoin(validations, "; "), "; chance accuracy ",
                        Percent(chance_accuracy, 2),
                        "): the init still changed what the network learned. ");
      }
      absl::StrAppend(&check.message, "Increase the depth",
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

}  // namespace ablate::artifacts::lab1
