#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "server/artifacts/lab1_summary.h"

namespace ablate::artifacts::lab1 {

void FillResults(JobSummary& s) {
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
    // Null when the validation set is too small to tell (Criteria::min_validation_examples).
    if (r.generalisation != Generalisation::kTooFewExamples) {
      generalises = r.generalisation == Generalisation::kGeneralises;
    }
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
    // "Xavier crawls": it learns, less than Kaiming. A loss that stays at chance is not that,
    // and neither is one that trained as fully as Kaiming's (at a high learning rate both fit
    // the training set; the order of two tiny end losses is no "in between").
    s.xavier_in_between = x.verdict == Verdict::kLearning && x.end_level && k.end_level &&
                          *x.end_level > *k.end_level;
  }

}

}  // namespace ablate::artifacts::lab1
