#include "server/service/class_view.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/jobs/spec.h"

namespace ablate::service {

namespace {

bool Ended(v1::RunState state) {
  return state == v1::RUN_STATE_COMPLETED || state == v1::RUN_STATE_DIVERGED;
}

// The name under which a uniform run's bounds join its settings.
constexpr char kBounds[] = "bounds";

// What groups a run: its job's training settings, and its bounds when it is uniform.
std::vector<jobs::Setting> GroupSettings(const v1::JobSpec& spec, const v1::RunSpec& run) {
  std::vector<jobs::Setting> settings = jobs::TrainingSettings(spec);
  if (run.init() == "uniform") settings.push_back({kBounds, jobs::UniformBounds(run)});
  return settings;
}

// `losses`: the run's recorded losses, or null when there are none at hand.
v1::ClassRun MakeClassRun(const v1::Job& job, const v1::Run& run,
                          const std::vector<float>* losses) {
  v1::ClassRun out;
  out.set_job_id(job.id());
  out.set_run_id(run.id());
  out.set_owner(job.owner());
  out.set_label(run.label());
  out.set_init(run.spec().init());
  out.set_weight_seed(run.spec().weight_seed());
  out.set_state(run.state());
  out.set_outcome(run.outcome());
  if (run.has_final_loss()) out.set_final_loss(run.final_loss());
  if (run.has_final_eval()) {
    out.set_val_loss(run.final_eval().loss());
    if (run.final_eval().has_accuracy()) out.set_val_accuracy(run.final_eval().accuracy());
  }
  if (run.has_first_nonfinite_step()) {
    out.set_first_nonfinite_step(run.first_nonfinite_step());
    const auto step = static_cast<size_t>(run.first_nonfinite_step());
    if (losses != nullptr && step < losses->size() && !std::isfinite((*losses)[step])) {
      out.set_first_nonfinite_loss((*losses)[step]);
    }
  }
  return out;
}

v1::Distribution Distribute(std::vector<double> values) {
  v1::Distribution out;
  out.set_count(static_cast<int32_t>(values.size()));
  if (values.empty()) return out;
  out.set_min(Quantile(values, 0));
  out.set_q10(Quantile(values, 0.1));
  out.set_median(Quantile(values, 0.5));
  out.set_q90(Quantile(values, 0.9));
  out.set_max(Quantile(values, 1));
  return out;
}

struct Group {
  std::string key;
  std::string label;
  std::string init;
  std::vector<std::pair<const v1::Job*, const v1::Run*>> runs;
};

// Steps 0..last spread over at most `points` points, both ends included.
std::vector<int32_t> Grid(int32_t last, int points) {
  std::vector<int32_t> grid;
  if (last < 0) return grid;
  if (last + 1 <= points) {
    for (int32_t s = 0; s <= last; ++s) grid.push_back(s);
    return grid;
  }
  for (int i = 0; i < points; ++i) {
    const auto s = static_cast<int32_t>(std::lround(1.0 * i * last / (points - 1)));
    if (grid.empty() || grid.back() != s) grid.push_back(s);
  }
  return grid;
}

bool SameCurve(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && !a.empty() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string JoinIndices(const std::vector<int>& indices) {
  std::vector<std::string> parts;
  for (int i : indices) parts.push_back(absl::StrCat(i));
  if (parts.size() == 2) return absl::StrCat(parts[0], " and ", parts[1]);
  const std::string last = parts.back();
  parts.pop_back();
  return absl::StrCat(absl::StrJoin(parts, ", "), " and ", last);
}

}  // namespace

double Quantile(std::vector<double>& values, double q) {
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return values[below] + fraction * (values[above] - values[below]);
}

ClassViewResult BuildClassView(const ClassViewInput& input, const ClassViewOptions& options) {
  ClassViewResult result;
  v1::ClassView& view = result.view;
  view.set_class_name(input.class_name);
  view.set_jobs(static_cast<int32_t>(input.jobs.size()));
  view.set_truncated(input.truncated);

  // Which settings differ anywhere in the class: only those split groups and name them.
  std::map<std::string, std::set<std::string>> values;
  int ended = 0;
  for (const v1::Job& job : input.jobs) {
    for (const v1::Run& run : job.runs()) {
      if (!Ended(run.state())) continue;
      ++ended;
      for (const jobs::Setting& s : GroupSettings(job.spec(), run.spec())) {
        values[s.name].insert(s.value);
      }
    }
  }
  view.set_runs(ended);

  std::map<std::string, Group> groups;
  for (const v1::Job& job : input.jobs) {
    for (const v1::Run& run : job.runs()) {
      if (!Ended(run.state())) continue;
      std::string key = absl::StrCat("init=", run.spec().init());
      std::string label = run.spec().init();
      for (const jobs::Setting& s : GroupSettings(job.spec(), run.spec())) {
        if (values[s.name].size() < 2) continue;
        absl::StrAppend(&key, ";", s.name, "=", s.value);
        absl::StrAppend(&label, s.name == kBounds ? " " : " · ",
                        s.name == kBounds ? "" : s.name + " ", s.value);
      }
      Group& group = groups[key];
      group.key = key;
      group.label = label;
      group.init = run.spec().init();
      group.runs.emplace_back(&job, &run);
    }
  }
  std::vector<const Group*> ordered;
  for (const auto& [key, group] : groups) ordered.push_back(&group);
  std::stable_sort(ordered.begin(), ordered.end(), [](const Group* a, const Group* b) {
    return a->runs.size() > b->runs.size();
  });

  for (const Group* group : ordered) {
    v1::RunGroup& out = *view.add_groups();
    out.set_key(group->key);
    out.set_label(group->label);
    out.set_init(group->init);
    std::vector<double> final_loss, val_loss, val_accuracy, first_nonfinite;
    std::vector<const std::vector<float>*> curves;
    size_t longest = 0;
    for (const auto& [job, run] : group->runs) {
      const auto curve = input.losses.find(run->id());
      *out.add_runs() =
          MakeClassRun(*job, *run, curve == input.losses.end() ? nullptr : &curve->second);
      if (run->state() == v1::RUN_STATE_DIVERGED) out.set_diverged(out.diverged() + 1);
      if (run->has_final_loss() && std::isfinite(run->final_loss())) {
        final_loss.push_back(run->final_loss());
      }
      if (run->has_final_eval()) {
        if (std::isfinite(run->final_eval().loss())) val_loss.push_back(run->final_eval().loss());
        if (run->final_eval().has_accuracy()) val_accuracy.push_back(run->final_eval().accuracy());
      }
      if (run->has_first_nonfinite_step()) first_nonfinite.push_back(run->first_nonfinite_step());
      if (curve != input.losses.end()) {
        curves.push_back(&curve->second);
        longest = std::max(longest, curve->second.size());
      }
    }
    *out.mutable_final_loss() = Distribute(std::move(final_loss));
    *out.mutable_val_loss() = Distribute(std::move(val_loss));
    *out.mutable_val_accuracy() = Distribute(std::move(val_accuracy));
    *out.mutable_first_nonfinite_step() = Distribute(std::move(first_nonfinite));

    // The band at every step (the figure draws the median at full resolution), then sampled.
    const float nan = std::nanf("");
    std::vector<float> median(longest, nan), low(longest, nan), high(longest, nan);
    std::vector<int32_t> count(longest, 0);
    std::vector<double> at;
    for (size_t s = 0; s < longest; ++s) {
      at.clear();
      for (const std::vector<float>* curve : curves) {
        if (s < curve->size() && std::isfinite((*curve)[s])) at.push_back((*curve)[s]);
      }
      count[s] = static_cast<int32_t>(at.size());
      if (at.empty()) continue;
      median[s] = static_cast<float>(Quantile(at, 0.5));
      low[s] = static_cast<float>(Quantile(at, 0.1));
      high[s] = static_cast<float>(Quantile(at, 0.9));
    }
    for (int32_t s : Grid(static_cast<int32_t>(longest) - 1, options.grid_points)) {
      out.add_steps(s);
      out.add_median(median[s]);
      out.add_low(low[s]);
      out.add_high(high[s]);
      out.add_count(count[s]);
    }
    result.curves.push_back({group->label, group->init, std::move(median)});
  }

  // Per init: how many ended runs diverged, for the envelope flags.
  std::map<std::string, std::pair<int, int>> diverged_of_init;  // init -> {diverged, runs}
  for (const v1::Job& job : input.jobs) {
    for (const v1::Run& run : job.runs()) {
      if (!Ended(run.state())) continue;
      auto& [diverged, runs] = diverged_of_init[run.spec().init()];
      diverged += run.state() == v1::RUN_STATE_DIVERGED;
      ++runs;
    }
  }

  // Students: jobs are newest first, so an owner's first job is their latest.
  std::map<std::string, std::pair<const v1::Job*, int>> latest;  // owner -> {job, jobs}
  for (const v1::Job& job : input.jobs) {
    auto [it, inserted] = latest.try_emplace(job.owner(), &job, 0);
    ++it->second.second;
  }
  for (const auto& [owner, entry] : latest) {
    if (!options.every_student && owner != options.only_owner) continue;
    const v1::Job& job = *entry.first;
    v1::StudentRow& row = *view.add_students();
    row.set_owner(owner);
    row.set_job_id(job.id());
    row.set_job_name(job.name());
    row.set_state(job.state());
    row.set_jobs(entry.second);
    for (const v1::Run& run : job.runs()) {
      const auto curve = input.losses.find(run.id());
      *row.add_runs() =
          MakeClassRun(job, run, curve == input.losses.end() ? nullptr : &curve->second);
      if (!Ended(run.state())) continue;
      const bool diverged = run.state() == v1::RUN_STATE_DIVERGED;
      auto [class_diverged, class_runs] = diverged_of_init[run.spec().init()];
      // The others: the class without this run.
      class_diverged -= diverged;
      class_runs -= 1;
      if (class_runs < kMinRunsForEnvelope) continue;
      const int went_other_way = diverged ? class_runs - class_diverged : class_diverged;
      if (2 * went_other_way <= class_runs) continue;
      if (!diverged) {
        row.add_flags(absl::StrCat(
            run.label(), ": did not diverge, while ", went_other_way, " of the class's ",
            class_runs, " other ", run.spec().init(), " runs did",
            run.spec().init() == "uniform" ? " — check its bounds (the lab's pitfall: wrong bounds)"
                                           : ""));
      } else {
        row.add_flags(absl::StrCat(run.label(), ": diverged at step ",
                                   run.first_nonfinite_step(), ", while ", went_other_way,
                                   " of the class's ", class_runs, " other ", run.spec().init(),
                                   " runs did not"));
      }
    }
    // Identical curves within the job: the same init and seed twice trains the same network.
    std::vector<bool> taken(job.runs_size(), false);
    for (int i = 0; i < job.runs_size(); ++i) {
      if (taken[i]) continue;
      auto a = input.losses.find(job.runs(i).id());
      if (a == input.losses.end()) continue;
      std::vector<int> same = {job.runs(i).index()};
      for (int j = i + 1; j < job.runs_size(); ++j) {
        auto b = input.losses.find(job.runs(j).id());
        if (!taken[j] && b != input.losses.end() && SameCurve(a->second, b->second)) {
          taken[j] = true;
          same.push_back(job.runs(j).index());
        }
      }
      if (same.size() < 2) continue;
      row.add_flags(absl::StrCat("runs ", JoinIndices(same),
                                 " have identical curves: the same init and seed train the same "
                                 "network (vary the init or the seed)"));
    }
  }
  return result;
}

}  // namespace ablate::service
