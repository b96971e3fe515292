#include "server/artifacts/readme.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/artifacts/artifacts.h"
#include "server/artifacts/format.h"

namespace ablate::artifacts {
namespace {

std::string Capitalized(std::string text) {
  if (!text.empty()) text[0] = absl::ascii_toupper(static_cast<unsigned char>(text[0]));
  return text;
}

std::string CountWord(int n) {
  static constexpr const char* kWords[] = {"No",   "One", "Two",   "Three", "Four",
                                           "Five", "Six", "Seven", "Eight", "Nine"};
  return n >= 0 && n < 10 ? kWords[n] : absl::StrCat(n);
}

std::string Plural(int n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// "256→256, 10 × 256→256, 256→2" for the job's Linear layers.
std::string Layers(const v1::ModelSpec& m) {
  const int depth = m.depth();
  if (depth == 1) return absl::StrCat(m.input_dim(), "→", m.classes());
  std::vector<std::string> parts = {absl::StrCat(m.input_dim(), "→", m.width())};
  if (depth > 2) {
    parts.push_back(absl::StrCat(depth - 2 > 1 ? absl::StrCat(depth - 2, " × ") : "", m.width(),
                                 "→", m.width()));
  }
  parts.push_back(absl::StrCat(m.width(), "→", m.classes()));
  return absl::StrJoin(parts, ", ");
}

// Losses in prose carry 4 significant digits; manifest.json and losses.json keep every bit.
std::string Loss(float v) { return std::isfinite(v) ? Sig(v, 4) : ShortestFloat(v); }

// A count of steps for prose: two significant digits, no exponent ("640", "12000").
std::string About(double steps) {
  if (steps < 10) return absl::StrFormat("%.1f", steps);
  const double magnitude = std::pow(10.0, std::floor(std::log10(steps)) - 1);
  return absl::StrFormat("%.0f", std::round(steps / magnitude) * magnitude);
}

// What the run's validation says, as sentences after its training verdict: generalises,
// memorises (the training loss fell, validation did not follow) or neither, and whether the
// validation loss rose from its best while the training loss kept falling.
std::string Validation(const JobSummary& s, const RunSummary& r) {
  if (!r.last_eval) return " It recorded no validation.";
  const v1::EvalResult& e = *r.last_eval;
  const double chance_accuracy = 1.0 / std::max(s.job->spec().model().classes(), 1);
  std::string text = absl::StrCat(" Its last validation (step ", e.step(), ") has loss ",
                                  Loss(e.loss()), " and accuracy ", Percent(e.accuracy()), ": ");
  switch (r.generalisation) {
    case Generalisation::kGeneralises:
      absl::StrAppend(&text, "it **generalises** (validation loss below chance, ",
                      Sig(s.chance, 3), ", and accuracy above chance, ",
                      Percent(chance_accuracy, 2), ").");
      break;
    case Generalisation::kMemorises:
      absl::StrAppend(
          &text, "it **memorises**: its training loss fell far below chance, but its validation "
          "accuracy is within ", Percent(s.criteria.generalisation_margin, 2), " of chance (",
          Percent(chance_accuracy, 2), "), so it fit its ", s.job->spec().data().train_size(),
          " training examples without the rule that labels them. It trains; it does not "
          "generalise.");
      break;
    case Generalisation::kOverfits:
      absl::StrAppend(
          &text, "it **overfits**: its validation accuracy is well above chance (",
          Percent(chance_accuracy, 2), "), so it learned much of the rule, but its validation "
          "loss is above chance (", Sig(s.chance, 3), "): it is confidently wrong on the "
          "examples it misses, while its training loss fell far below chance.");
      break;
    case Generalisation::kTooFewExamples: {
      const int n = s.job->spec().data().val_size();
      absl::StrAppend(&text, "but ", Plural(n, "validation example is", "validation examples are"),
                      " too few to tell whether it generalises. A verdict needs at least ",
                      s.criteria.min_validation_examples,
                      ": over n examples a classifier at chance scores ",
                      Percent(chance_accuracy, 2), " give or take about ",
                      Percent(std::sqrt(chance_accuracy * (1 - chance_accuracy) / n), 2),
                      " (one standard error), so a margin of ",
                      Percent(s.criteria.generalisation_margin, 2), " above it could be luck.");
      break;
    }
    case Generalisation::kNotGeneralising:
    case Generalisation::kNoValidation:
      absl::StrAppend(&text, "it does **not generalise** either (chance: loss ", Sig(s.chance, 3),
                      ", accuracy ", Percent(chance_accuracy, 2), ").");
      break;
  }
  if (r.best_eval && r.best_eval->step() < e.step() && std::isfinite(e.loss()) &&
      e.loss() > 1.1 * r.best_eval->loss() && r.end_level && r.start_level &&
      *r.end_level < *r.start_level) {
    const int evals =
        static_cast<int>(std::count_if(r.evals.begin(), r.evals.end(), [](const v1::EvalResult& v) {
          return std::isfinite(v.loss());
        }));
    const int every = s.job->spec().training().eval_every();
    if (evals < s.criteria.min_evals_for_lowest) {
      // A coarse grid shows the rise, not where the curve turned.
      absl::StrAppend(&text, " Its validation loss rose from ", Loss(r.best_eval->loss()),
                      " at step ", r.best_eval->step(), " to ", Loss(e.loss()), " at step ",
                      e.step(), " while its training loss kept falling, but ",
                      Plural(evals, "evaluation", "evaluations"), " (every ", every, " steps) ",
                      evals == 1 ? "is" : "are",
                      " too few to tell where it was lowest or when it began to "
                      "overfit (that takes at least ",
                      s.criteria.min_evals_for_lowest, ").");
    } else if (!r.evals.empty() && r.best_eval->step() == r.evals.front().step()) {
      // The lowest is the first evaluation: the curve may have turned before it.
      absl::StrAppend(&text, " Its validation loss was lowest at step ", r.best_eval->step(), " (",
                      Loss(r.best_eval->loss()),
                      "), its first evaluation, and rose from "
                      "there while its training loss kept falling: it was overfitting by step ",
                      r.best_eval->step(), " at the latest.");
    } else {
      absl::StrAppend(&text, " Its validation loss was lowest at step ", r.best_eval->step(), " (",
                      Loss(r.best_eval->loss()),
                      ") and rose from there while its "
                      "training loss kept falling: it overfit after that step.");
    }
  }
  return text;
}

// The weight-gradient norm over a flatline, as a clause: the flatline is judged on the loss, and
// a saturated network's gradient is not always zero (a few units wake now and then).
std::string FlatlineGradients(const RunSummary& r) {
  if (!r.flatline_grad_median) return "";
  return absl::StrCat(", its weight-gradient norm there a median of ",
                      Sig(*r.flatline_grad_median, 2), " (at most ", Sig(*r.flatline_grad_max, 2),
                      ")");
}

// What a training verdict rests on, as a parenthesis after the run's first and last loss: the
// means of its first and last Criteria::level_window losses against the verdict's thresholds.
// One step's loss is noisy, so a run can end on a step above a run it beat on average.
std::string VerdictEvidence(const JobSummary& s, const RunSummary& r) {
  if (!r.end_level || !r.start_level || *r.start_level <= 0) return "";
  const Criteria& c = s.criteria;
  const int n = std::min(c.level_window, static_cast<int>(r.losses.size()));
  const std::string trained_below =
      absl::StrCat(Sig(c.trained_fraction_of_chance, 2), " × chance, ",
                   Loss(static_cast<float>(c.trained_fraction_of_chance * s.chance)));
  const std::string mean = absl::StrCat(" (the mean of its last ", n, " steps, ",
                                        Loss(static_cast<float>(*r.end_level)), ", is ");
  if (r.verdict == Verdict::kTrained) return absl::StrCat(mean, "below ", trained_below, ")");
  // A run shorter than two windows would be compared with its own steps: no comparison.
  if (static_cast<int>(r.losses.size()) < 2 * n) {
    return absl::StrCat(" (", r.losses.size(), " steps are too few to compare its first ", n,
                        " with its last ", n, ")");
  }
  const double drop = 1 - *r.end_level / *r.start_level;
  const std::string versus_start = absl::StrCat(
      Percent(std::abs(drop), 2), drop >= 0 ? " below" : " above", " its first ", n, "'s, ",
      Loss(static_cast<float>(*r.start_level)));
  if (r.verdict == Verdict::kLearning) {
    return absl::StrCat(mean, versus_start, ", but not below ", trained_below, ")");
  }
  return absl::StrCat(mean, drop >= 0 ? "only " : "", versus_start,
                      "; learning takes a fall of ", Percent(c.learning_min_drop, 2), ")");
}

// One sentence on what a run did.
std::string WhatHappened(const JobSummary& s, const RunSummary& r) {
  const int planned = s.job->spec().training().steps();
  const int recorded = static_cast<int>(r.losses.size());
  std::string cut;
  if (r.state == v1::RUN_STATE_CANCELLED) {
    cut = absl::StrCat(" It was cancelled after ", Plural(recorded, "step", "steps"), " of ",
                       planned, ".");
  } else if (r.state == v1::RUN_STATE_FAILED) {
    cut = absl::StrCat(" It failed: ", r.outcome, ".");
  }
  switch (r.verdict) {
    case Verdict::kNoSteps:
      return absl::StrCat("**", r.label, "** recorded no step.", cut);
    case Verdict::kDiverged: {
      const int s_nan = *r.first_nonfinite_step;
      std::string text = absl::StrCat("**", r.label, "** diverged: ");
      if (s_nan == 0) {
        absl::StrAppend(&text, "its very first loss (step 0) was ",
                        NonFiniteLabel(r.nonfinite.at(0)));
      } else {
        // "its loss was A at step 0, P at step p and L at step s-1; step s gave NaN"
        std::vector<std::string> seen = {absl::StrCat(Loss(r.losses[0]), " at step 0")};
        if (r.peak_step && *r.peak_step > 0 && *r.peak_step < s_nan - 1) {
          seen.push_back(
              absl::StrCat(Loss(*r.peak_loss), " at step ", *r.peak_step, " (its peak)"));
        }
        if (s_nan > 1)
          seen.push_back(absl::StrCat(Loss(r.losses[s_nan - 1]), " at step ", s_nan - 1));
        std::string list = seen.back();
        if (seen.size() > 1) {
          seen.pop_back();
          list = absl::StrCat(absl::StrJoin(seen, ", "), " and ", list);
        }
        absl::StrAppend(&text, "its loss was ", list, "; step ", s_nan, " gave ",
                        NonFiniteLabel(r.nonfinite.at(s_nan)));
      }
      if (recorded == s_nan + 1) {
        absl::StrAppend(&text, ", where the run stopped.");
      } else {
        absl::StrAppend(
            &text, "; it went on to step ", recorded - 1, " with ",
            Plural(static_cast<int>(r.nonfinite.size()), "non-finite loss", "non-finite losses"),
            ".");
      }
      return text + cut;
    }
    case Verdict::kFlatlined:
      return absl::StrCat("**", r.label, "** flatlined: from step ", *r.flatline_step,
                          " to its last its loss sat at chance (ln ",
                          s.job->spec().model().classes(), " = ", Sig(s.chance, 3), "), ending at ",
                          Loss(*r.final_loss), " at step ", recorded - 1, FlatlineGradients(r), ".",
                          cut);
    case Verdict::kTrained:
    case Verdict::kLearning:
    case Verdict::kNotLearning:
      break;
  }
  const char* how = r.verdict == Verdict::kTrained ? "trained (fits the training set)"
                    : r.verdict == Verdict::kLearning
                        ? "learned on the training set, but only partly"
                        : "did not learn";
  std::string text = absl::StrCat("**", r.label, "** ", how, ": its training loss went from ",
                                  Loss(r.losses[0]), " at step 0 to ", Loss(*r.final_loss),
                                  " at step ", recorded - 1, VerdictEvidence(s, r), ".",
                                  Validation(s, r));
  return text + cut;
}

// The lab's "Xavier N(0, 1/n_in)" is what PyTorch calls LeCun normal; Glorot's own normal init
// (torch.nn.init.xavier_normal_) has variance 2/(n_in + n_out): the same for a square layer,
// not for the first and last.
std::string LecunNote(const JobSummary& s) {
  if (!s.xavier) return "";
  return " A note on names: the lab's \"Xavier N(0, 1/n_in)\" is what PyTorch calls LeCun "
         "normal; Glorot's own (`torch.nn.init.xavier_normal_`) is N(0, 2/(n_in + n_out)), equal "
         "for a square layer (n_in = n_out) but not for the last one, which maps to the classes.";
}

// The verdicts on the lab's outcome are each init's first run's. With several runs of an init
// (seeds), the ones that ended otherwise, so that one seed's outcome is not read as the init's:
// " These verdicts are each init's first run's, and not every other seed ended the same way:
// **xavier (run 6)**: not learning, does not generalise (see Across seeds)." Empty when all agree.
std::string OtherSeedsThatDisagree(const JobSummary& s) {
  std::vector<std::string> differ;
  for (const std::optional<size_t>& first : {s.uniform, s.xavier, s.kaiming}) {
    if (!first) continue;
    const RunSummary& f = s.runs[*first];
    for (size_t i = 0; i < s.runs.size(); ++i) {
      const RunSummary& r = s.runs[i];
      if (i == *first || r.init != f.init) continue;
      if (r.verdict == f.verdict && r.generalisation == f.generalisation) continue;
      differ.push_back(absl::StrCat("**", r.label, "**: ", VerdictName(r.verdict), ", ",
                                    GeneralisationName(r.generalisation)));
    }
  }
  if (differ.empty()) return "";
  return absl::StrCat(
      " These verdicts are each init's first run's, and not every other seed ended the same way: ",
      absl::StrJoin(differ, "; "), " (see Across seeds).");
}

std::string Answer1(const JobSummary& s) {
  if (!s.uniform) {
    return "This job has no uniform run, so there is no uniform NaN or saturation step to "
           "report (steps_to_nan_uniform is null).";
  }
  const RunSummary& u = s.runs[*s.uniform];
  std::string text;
  if (u.first_nonfinite_step) {
    const int step = *u.first_nonfinite_step;
    // The lab's "first NaN" is the first non-finite loss; an overflow to inf is named as such.
    const std::string& kind = u.nonfinite.at(step);
    text = absl::StrCat("Uniform's first ", kind == "nan" ? "NaN" : "non-finite loss",
                        " came at **step ", step, "** (steps_to_nan_uniform = ", step,
                        "; the loss was ", NonFiniteLabel(kind),
                        kind == "nan" ? "" : ", the overflow the lab counts with NaN", ").");
    if (step > 0 && std::isfinite(u.losses[0]) && u.losses[0] > 10 * s.chance) {
      absl::StrAppend(&text, " Its loss at step 0 was already ", Loss(u.losses[0]), ", ",
                      Sig(u.losses[0] / s.chance, 3),
                      " times chance: the forward pass blew up before any update.");
    }
    if (u.flatline_step) {
      absl::StrAppend(&text, " Before that it had flatlined at chance from step ", *u.flatline_step,
                      ".");
    }
  } else if (u.flatline_step) {
    text = absl::StrCat(
        "Uniform produced no NaN (steps_to_nan_uniform is null): it saturated instead. From "
        "**step ",
        *u.flatline_step, "** to its last step its loss sat at chance (", Sig(s.chance, 3), ")",
        FlatlineGradients(u),
        ": it learned nothing more. "
        "That is the lab's other failure mode — no blow-up, but no learning either — with the "
        "same underlying cause, the init.");
    if (u.uniform_low && u.uniform_high && *u.uniform_high <= 0 &&
        s.job->spec().model().depth() >= 2) {
      // Inputs after the first layer are ReLU outputs (≥ 0): weights ≤ 0 make every
      // pre-activation ≤ 0 there, whatever the scale.
      absl::StrAppend(&text, " Here it is the sign, not the scale: ", u.formula,
                      " draws no positive weight, so from the second layer on every ReLU's input "
                      "is at most zero and its output zero.");
    }
  } else if (u.losses.empty()) {
    text =
        "The uniform run recorded no step, so there is nothing to report "
        "(steps_to_nan_uniform is null).";
  } else {
    text = absl::StrCat("Uniform neither produced a NaN nor flatlined in its ",
                        Plural(static_cast<int>(u.losses.size()), "step", "steps"),
                        " (steps_to_nan_uniform is null): its loss went from ", Loss(u.losses[0]),
                        " to ", Loss(*u.final_loss), " (", VerdictName(u.verdict), ").");
  }
  if (s.uniform_runs > 1) {
    std::vector<std::string> others;
    for (size_t i = 0; i < s.runs.size(); ++i) {
      const RunSummary& r = s.runs[i];
      if (r.init != "uniform" || i == *s.uniform) continue;
      others.push_back(absl::StrCat(
          r.label, ": ",
          r.first_nonfinite_step
              ? absl::StrCat("first ", NonFiniteLabel(r.nonfinite.at(*r.first_nonfinite_step)),
                             " at step ", *r.first_nonfinite_step)
          : r.flatline_step      ? absl::StrCat("flatlined at step ", *r.flatline_step)
                                 : "neither"));
    }
    absl::StrAppend(&text, " This job has ", s.uniform_runs,
                    " uniform runs; steps_to_nan_uniform is the first of them (", u.label,
                    "). The others: ", absl::StrJoin(others, "; "), ".");
  }
  return text;
}

std::string Answer2(const JobSummary& s) {
  if (!s.xavier && !s.kaiming) {
    return "This job has neither a xavier nor a kaiming run, so there is nothing to compare "
           "(final_loss_xavier and final_loss_kaiming are null).";
  }
  const auto describe = [&](const RunSummary& r, const char* name, bool first = true) {
    const float v = *r.final_loss;
    if (!std::isfinite(v)) {
      return absl::StrCat(name, "'s final loss is ", NonFiniteLabel(ShortestFloat(v)),
                          " (it diverged at step ", *r.first_nonfinite_step, ")");
    }
    if (!first)
      return absl::StrCat(name, "'s (step ", r.losses.size() - 1, ") is **", Loss(v), "**");
    return absl::StrCat(name, "'s final training loss (step ", r.losses.size() - 1, ") is **",
                        Loss(v), "**");
  };
  if (!s.kaiming) {
    return absl::StrCat(describe(s.runs[*s.xavier], "Xavier"),
                        "; this job has no kaiming run to compare it with (final_loss_kaiming is "
                        "null).");
  }
  if (!s.xavier) {
    return absl::StrCat(describe(s.runs[*s.kaiming], "Kaiming"),
                        "; this job has no xavier run to compare it with (final_loss_xavier is "
                        "null).");
  }
  const RunSummary& x = s.runs[*s.xavier];
  const RunSummary& k = s.runs[*s.kaiming];
  std::string text = absl::StrCat(describe(x, "Xavier"), "; ", describe(k, "Kaiming", false));
  const float xf = *x.final_loss, kf = *k.final_loss;
  if (std::isfinite(xf) && std::isfinite(kf) && xf > 0 && kf > 0) {
    if (kf < xf) {
      absl::StrAppend(&text, ", ", Sig(xf / kf, 3), " times lower.");
    } else if (kf > xf) {
      absl::StrAppend(&text, ": here Xavier's is the lower one, by a factor of ", Sig(kf / xf, 3),
                      ".");
    } else {
      absl::StrAppend(&text, ": the same.");
    }
  } else {
    absl::StrAppend(&text, ".");
  }
  if (s.kaiming_step_at_xavier_final && kf < xf) {
    absl::StrAppend(&text, " Kaiming was already at or below Xavier's final loss at step ",
                    *s.kaiming_step_at_xavier_final, ".");
  }
  if (x.final_eval && k.final_eval) {
    absl::StrAppend(&text, " On the validation set after the last step: Xavier loss ",
                    Loss(x.final_eval->loss()), ", accuracy ", Percent(x.final_eval->accuracy()),
                    "; Kaiming loss ", Loss(k.final_eval->loss()), ", accuracy ",
                    Percent(k.final_eval->accuracy()), ".");
  }
  if (k.verdict != Verdict::kTrained) {
    absl::StrAppend(&text, " Note that Kaiming did not train in this job (", VerdictName(k.verdict),
                    ").");
  }
  return text;
}

std::string Answer3(const JobSummary& s) {
  const Criteria& c = s.criteria;
  if (!s.xavier) {
    return "This job has no xavier run, so there is no slope to compute (xavier_slope_last200 "
           "is null).";
  }
  const RunSummary& x = s.runs[*s.xavier];
  if (!x.tail) {
    if (x.first_nonfinite_step) {
      return absl::StrCat("Xavier diverged at step ", *x.first_nonfinite_step,
                          ", so its last steps have no finite slope (xavier_slope_last200 is "
                          "null): it is not training.");
    }
    return "Xavier recorded too few steps for a slope (xavier_slope_last200 is null).";
  }
  const TailTrend& t = *x.tail;
  const int n = t.last_step - t.first_step + 1;
  std::string text = absl::StrCat(
      "Over ",
      n == c.slope_window ? absl::StrCat("its last ", n, " steps")
                          : absl::StrCat("all its ", n, " steps (fewer than ", c.slope_window, ")"),
      " (", t.first_step, "–", t.last_step, ") Xavier's loss has a least-squares slope of **",
      Sig(t.slope, 3), " per step** (xavier_slope_last200): the fitted line ",
      t.fitted_drop >= 0 ? "falls" : "rises", " by ", Sig(std::abs(t.fitted_drop), 3), ", ",
      Percent(std::abs(t.relative_drop), 3), " of its mean loss there (", Sig(t.mean, 3),
      "). A run counts as training when its fitted line falls by at least ",
      Percent(c.training_min_drop, 2), " of its mean loss over the window, so Xavier is **",
      t.status, "**");
  // Where the fitted line ends: a least-squares line passes through the window's mean at its
  // middle step, so at the last step it is half its fall lower. Halving starts from there.
  const double line_end = t.mean - t.fitted_drop / 2;
  if (t.status == "training" && t.slope < 0 && line_end > 0) {
    absl::StrAppend(&text, ", though slowly: at this rate halving its loss (the fitted line's ",
                    Sig(line_end, 3), " at step ", t.last_step, ") would take about ",
                    About(line_end / 2 / -t.slope), " more steps");
  } else if (t.status == "training") {
    absl::StrAppend(&text, ", though slowly");
  } else if (t.status == "almost not training") {
    absl::StrAppend(&text, ": its loss still falls, but by less than ",
                    Percent(c.training_min_drop, 2));
  }
  absl::StrAppend(&text, ".");
  if (s.kaiming && s.runs[*s.kaiming].tail) {
    const TailTrend& k = *s.runs[*s.kaiming].tail;
    absl::StrAppend(&text, " For comparison, Kaiming's slope over its last ",
                    k.last_step - k.first_step + 1, " steps is ", Sig(k.slope, 3),
                    " per step, at a mean loss of ", Sig(k.mean, 3), ".");
  }
  return text;
}

std::string Answer4(const JobSummary& s) {
  if (s.predictions.empty()) return "No run of this job has a known init scheme to reason about.";
  const int depth = s.job->spec().model().depth();
  std::string text = absl::StrCat(
      "`layer_stats.png` shows the mechanism at depth ", depth,
      ": each layer's activation standard deviation at init and its weight-gradient norm in the "
      "first step, per init (log scale), so the signal's explosion, vanishing or steady scale "
      "can be read layer by layer. Prediction, not a run: doubling the depth from ", depth,
      " to ", 2 * depth,
      " layers multiplies each init's forward variance by its per-layer ReLU gain n_in·Var(w)/2 "
      "(He et al. 2015) another ",
      depth, " times.\n");
  for (const DepthPrediction& p : s.predictions) {
    absl::StrAppend(&text, "   - **", p.init, "** (", p.regime, "): ", Capitalized(p.text), "\n");
  }
  return text;
}

}  // namespace

std::string RenderReadme(const JobSummary& s, const PlotLayout& plot, const HostInfo& host,
                         const BuildInfo& build) {
  const v1::Job& job = *s.job;
  const v1::JobSpec& spec = job.spec();
  const v1::ModelSpec& m = spec.model();
  const v1::DataSpec& d = spec.data();
  const v1::TrainingSpec& t = spec.training();
  std::string md = absl::StrCat("# Job ", job.id(), ": ", job.name(), "\n\n");

  // --- What was trained.
  // With vary_data_seed, runs drew their data from seeds of their own.
  const bool data_varied = std::any_of(s.runs.begin(), s.runs.end(), [&](const RunSummary& r) {
    return r.data_seed != d.seed();
  });
  std::vector<std::string> inits;
  for (const RunSummary& r : s.runs) {
    inits.push_back(absl::StrCat(r.label, " ", r.formula, " (seed ", r.weight_seed,
                                 data_varied ? absl::StrCat(", data seed ", r.data_seed) : "",
                                 ")"));
  }
  std::string init_list;
  for (size_t i = 0; i < inits.size(); ++i) {
    if (i > 0) init_list += i + 1 == inits.size() ? (inits.size() > 2 ? ", and " : " and ") : ", ";
    init_list += inits[i];
  }
  const int runs = static_cast<int>(s.runs.size());
  absl::StrAppend(
      &md, "## What was trained\n\n", CountWord(runs), runs == 1 ? " run" : " runs", " of a ",
      m.depth(), "-layer MLP — Linear layers ", Layers(m),
      m.depth() > 1 ? ", ReLU between them" : "",
      ", no normalisation, no residual connections — on lab 1's synthetic data: ", d.train_size(),
      " training and ", d.val_size(), " validation examples of ", m.input_dim(),
      "-dimensional standard Gaussian inputs, labelled 1 when the sum of the first ",
      d.label_dims(), " inputs is ≥ 0 and 0 otherwise (",
      data_varied
          ? absl::StrCat("data seeds varied with the weight seeds: the k-th seed of every init "
                         "used data seed ", d.seed(), " + k, so runs of different inits under "
                         "the same k saw the same examples in the same batch order")
          : absl::StrCat("data seed ", d.seed(),
                         runs > 1 ? ", so every run saw the same examples in the same batch order"
                                  : ""),
      "). Each run took up to ", t.steps(), " steps of SGD with momentum ", Sig(t.momentum(), 6),
      " (learning rate ", Sig(t.lr(), 6), ", batch ", t.batch(),
      ") on mean softmax cross-entropy, validating every ", t.eval_every(), " steps",
      t.stop_on_nonfinite() ? " and stopping at its first non-finite loss" : "", ". ",
      runs > 1 ? "The runs differ only in the init of their weights, each drawn from its own "
                 "seed: "
               : "Its weights were drawn from ",
      init_list, "; biases start at zero.", LecunNote(s), "\n\n");

  // --- What happened.
  absl::StrAppend(&md, "## What happened\n\n");
  std::vector<std::string> sentences;
  for (const RunSummary& r : s.runs) sentences.push_back(WhatHappened(s, r));
  absl::StrAppend(&md, absl::StrJoin(sentences, " "));
  absl::StrAppend(&md, " `loss_curves.png` plots every step on a ", YScaleName(plot.scale),
                  " y axis, because ", plot.reason,
                  " (`", PlotFileFor(plot.scale == YScale::kLog ? YScale::kLinear : YScale::kLog),
                  "` shows the other scale)");
  if (plot.clip_at) {
    std::vector<std::string> off;
    for (const ClippedRun& c : plot.clipped) {
      off.push_back(absl::StrCat(c.name, " reached ", Sig(c.peak, 2), " at step ", c.peak_step));
    }
    absl::StrAppend(&md, "; its y axis is clipped at ", Sig(*plot.clip_at, 2),
                    " so that the other curves stay readable (", absl::StrJoin(off, "; "),
                    ", marked ▲ on the top edge)");
  }
  absl::StrAppend(&md, ".");
  if (s.uniform_failed) {
    std::vector<std::string> missed;
    if (!*s.uniform_failed) missed.push_back("uniform neither diverged nor flatlined");
    if (!*s.kaiming_trained) missed.push_back("kaiming did not train");
    if (!*s.xavier_in_between) {
      const RunSummary& x = s.runs[*s.xavier];
      missed.push_back(
          x.verdict == Verdict::kNotLearning
              ? "xavier did not learn, where the lab expects it to crawl (learn, but less than "
                "kaiming)"
          : x.verdict == Verdict::kTrained
              ? absl::StrCat("xavier trained as well (the mean of its last ",
                             std::min<size_t>(s.criteria.level_window, x.losses.size()), " steps, ",
                             Loss(static_cast<float>(*x.end_level)), ", is below ",
                             Sig(s.criteria.trained_fraction_of_chance, 2),
                             " × chance), where the lab expects it to crawl (learn, but not "
                             "train as kaiming does)")
          : x.verdict == Verdict::kLearning
              ? "xavier ended no higher than kaiming, where the lab expects it in between"
              : absl::StrCat("xavier ", VerdictName(x.verdict),
                             ", where the lab expects it to crawl (learn, but less than kaiming)"));
    }
    if (missed.empty()) {
      absl::StrAppend(&md,
                      " On the training loss this is the outcome the lab expects: uniform "
                      "fails, kaiming trains, and xavier lies in between.");
    } else {
      absl::StrAppend(&md, " On the training loss this is not quite the outcome the lab expects: ",
                      absl::StrJoin(missed, "; "), ".");
    }
    if (s.kaiming_generalises.has_value()) {
      const RunSummary& k = s.runs[*s.kaiming];
      absl::StrAppend(&md, " On the validation set, kaiming ",
                      *s.kaiming_generalises ? "generalises too"
                      : k.generalisation == Generalisation::kMemorises
                          ? "**memorises**: a low training loss is not a working classifier"
                      : k.generalisation == Generalisation::kOverfits
                          ? "**overfits**: it classifies most unseen examples, but its "
                            "validation loss is above chance"
                          : "does not generalise",
                      " (validation loss ", Loss(*s.val_loss_kaiming), ", accuracy ",
                      Percent(*s.val_accuracy_kaiming), ")");
      if (s.xavier_generalises.has_value()) {
        absl::StrAppend(&md, "; xavier ",
                        *s.xavier_generalises
                            ? "generalises"
                            : std::string(GeneralisationName(s.runs[*s.xavier].generalisation)),
                        " (validation loss ", Loss(*s.val_loss_xavier), ", accuracy ",
                        Percent(*s.val_accuracy_xavier), ")");
      }
      absl::StrAppend(&md, ".");
    }
    absl::StrAppend(&md, OtherSeedsThatDisagree(s));
  }
  // The steps named are the job's last ones, which only a run that did not stop early has.
  const bool a_run_reached_the_end = std::any_of(
      s.runs.begin(), s.runs.end(),
      [&](const RunSummary& r) { return static_cast<int64_t>(r.losses.size()) == t.steps(); });
  absl::StrAppend(
      &md, "\n\nStep indexing: the training loss at step k is measured on a batch before update "
           "k+1, so ",
      a_run_reached_the_end
          ? absl::StrCat("the last one (step ", t.steps() - 1,
                         ") comes before the last update; a validation at step k follows k "
                         "updates, so the final validation (step ",
                         t.steps(), ") comes after it")
          : "a run's last loss comes before its last update; a validation at step k follows k "
            "updates",
      ". The figures draw training loss as solid lines and validation loss as dashed lines with "
      "○ at each evaluation, in the run's colour.\n\n");

  // --- Seeds.
  if (!s.spreads.empty()) {
    absl::StrAppend(&md, "## Across seeds\n\n",
                    "One run is not the whole story: the same init under another weight seed ",
                    data_varied ? "and another draw of the data (the data seed varied too) "
                                : "(the data seed fixed) ",
                    "can end elsewhere. Median [min–max] over each init's runs:\n\n",
                    "| init | runs | final training loss | validation loss | validation "
                    "accuracy | diverged (first non-finite step) | generalised / memorised |\n",
                    "|---|---|---|---|---|---|---|\n");
    const auto cell = [](const std::optional<Spread>& spread, bool percent) {
      if (!spread) return std::string("—");
      const auto f = [&](double v) { return percent ? Percent(v, 3) : Sig(v, 4); };
      return absl::StrCat(f(spread->median), " [", f(spread->min), "–", f(spread->max), "]");
    };
    for (const InitSpread& i : s.spreads) {
      absl::StrAppend(
          &md, "| ", i.init, " | ", i.runs, " | ", cell(i.final_loss, false), " | ",
          cell(i.val_loss, false), " | ", cell(i.val_accuracy, true), " | ", i.diverged, " of ",
          i.runs,
          i.first_nonfinite_step
              ? absl::StrCat(" (step ", Sig(i.first_nonfinite_step->median, 4), " [",
                             Sig(i.first_nonfinite_step->min, 4), "–",
                             Sig(i.first_nonfinite_step->max, 4), "])")
              : std::string(),
          " | ", i.generalised, " / ", i.memorised, " |\n");
    }
    absl::StrAppend(&md, "\nThe answers below describe the first run of each init.\n\n");
  }

  // --- The four answers.
  absl::StrAppend(&md, "## Answers\n\n",
                  "1. **At what step did uniform produce its first NaN (or saturate)?** ",
                  Answer1(s), "\n", "2. **Xavier's final loss vs Kaiming's.** ", Answer2(s), "\n",
                  "3. **Is Xavier training or almost not training?** ", Answer3(s), "\n",
                  "4. **What if the depth doubled?** ", Answer4(s), "\n");

  // --- Question 4 checked at this job's depth.
  if (!s.depth_checks.empty()) {
    absl::StrAppend(&md, "## Prediction vs what happened at depth ", m.depth(), "\n\n",
                    "What each init's per-layer variance gain predicts at this job's own depth, "
                    "and what its run did (`layer_stats.png` shows the signal per layer):\n\n");
    for (const DepthCheck& c : s.depth_checks) {
      const std::string why =
          c.regime == "dies"
              ? "its weights are all ≤ 0, so every ReLU after the first layer outputs zero and "
                "the signal dies"
              : absl::StrCat("the forward variance reaching the last layer is ", Sig(c.ratio, 3),
                             " times the input's, so it ", c.regime);
      absl::StrAppend(
          &md, "- **", c.init, "**: ", why, "; expected ", c.expected, ". Observed: ",
          c.observed, ". ",
          !c.held ? absl::StrCat("The prediction **could not be tested**: ",
                                 s.job->spec().training().steps(), " steps are too few for it")
          : *c.held ? std::string("The prediction **held**")
                    : std::string("The prediction **did not hold**"),
          ".\n");
    }
    absl::StrAppend(&md, "\n");
  }

  // --- Checks and warnings.
  std::vector<const Check*> fired;
  std::vector<std::string> passed;
  for (const Check& c : s.checks) {
    if (c.fired) {
      fired.push_back(&c);
    } else if (c.applicable) {
      passed.push_back(c.id);
    }
  }
  absl::StrAppend(&md, "## Checks\n\n");
  if (fired.empty()) {
    absl::StrAppend(&md, "None of the lab's pitfall checks fired",
                    passed.empty() ? "" : absl::StrCat(" (", absl::StrJoin(passed, ", "), ")"),
                    ".");
  } else {
    for (const Check* c : fired) absl::StrAppend(&md, "- **", c->id, "**: ", c->message, "\n");
  }
  if (const std::string warning = GovernorWarning(host); !warning.empty()) {
    absl::StrAppend(&md, fired.empty() ? " " : "\n", warning);
  }
  absl::StrAppend(&md, "\n\n---\n\nWritten by Ablate ", build.version, " (commit ",
                  build.git_commit.substr(0, 12), ") from job ", job.id(),
                  "'s recorded data; `manifest.json` holds the full provenance, the numbers above "
                  "in `results_summary`, and the sha256 of every file.\n");
  return md;
}

}  // namespace ablate::artifacts
