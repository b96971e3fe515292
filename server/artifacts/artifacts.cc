#include "server/artifacts/artifacts.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "proto/json.h"
#include "server/artifacts/format.h"
#include "server/artifacts/losses_json.h"
#include "server/artifacts/manifest.h"
#include "server/artifacts/init_colors.h"
#include "server/artifacts/plot.h"
#include "server/artifacts/readme.h"
#include "proto/sha256.h"
#include "server/service/wire.h"

namespace ablate::artifacts {
namespace {

store::Artifact MakeArtifact(std::string name, std::string content_type, std::string data) {
  store::Artifact a;
  a.name = std::move(name);
  a.content_type = std::move(content_type);
  a.sha256 = Sha256Hex(data);
  a.data = std::move(data);
  return a;
}

absl::StatusOr<std::string> JobJson(const v1::JobSpec& spec) {
  return ProtoToJson(spec);
}

// Nearest-rank median (the lower middle) of `values`, which it reorders; not empty.
float Median(std::vector<float>& values) {
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>((values.size() - 1) / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

// The runs of one init drawn as one series: at each step the median training loss over the runs
// (a run that stopped at a non-finite loss counts as +inf from there on, so the median turns
// NaN once most runs have diverged) with the min–max of the finite ones as its band; the
// median validation loss at each evaluation step that every run reached.
PlotSeries SeedsSeries(const JobSummary& s, const std::vector<const RunSummary*>& runs) {
  PlotSeries series;
  const RunSummary& first = *runs.front();
  size_t steps = 0;
  for (const RunSummary* r : runs) steps = std::max(steps, r->losses.size());
  for (size_t step = 0; step < steps; ++step) {
    std::vector<float> values;
    float low = std::numeric_limits<float>::infinity(), high = -low;
    for (const RunSummary* r : runs) {
      float v;
      if (step < r->losses.size()) {
        v = r->losses[step];
      } else if (r->first_nonfinite_step) {
        v = std::numeric_limits<float>::infinity();
      } else {
        continue;  // ended early without diverging (cancelled): no say here
      }
      const float finite_or_inf = std::isfinite(v) ? v : std::numeric_limits<float>::infinity();
      values.push_back(finite_or_inf);
      if (std::isfinite(v)) {
        low = std::min(low, v);
        high = std::max(high, v);
      }
    }
    if (values.empty()) break;
    const float median = Median(values);
    const bool finite = std::isfinite(median);
    series.losses.push_back(finite ? median : std::numeric_limits<float>::quiet_NaN());
    series.band_low.push_back(finite ? low : std::numeric_limits<float>::quiet_NaN());
    series.band_high.push_back(finite ? high : std::numeric_limits<float>::quiet_NaN());
    if (!finite) {
      series.first_nonfinite_step = static_cast<int>(step);
      series.first_nonfinite = "non-finite median";
      break;
    }
  }
  std::map<int, std::vector<float>> val_by_step;
  for (const RunSummary* r : runs) {
    for (const v1::EvalResult& e : r->evals) val_by_step[e.step()].push_back(e.loss());
  }
  for (auto& [step, values] : val_by_step) {
    if (values.size() != runs.size()) continue;
    series.val_steps.push_back(step);
    series.val_losses.push_back(Median(values));
  }
  std::string result;
  for (const InitSpread& spread : s.spreads) {
    if (spread.init != first.init) continue;
    // Only what there is: "train 0.00069 [0.00042–0.0011] · val 1.7 [1.3–1.9], acc 66% [62–68]".
    const auto range = [](const Spread& v, bool percent) {
      const auto f = [&](double x) {
        return percent ? absl::StrCat(std::lround(100 * x)) : Sig(x, 2);
      };
      return absl::StrCat(f(v.median), percent ? "%" : "", " [", f(v.min), "–", f(v.max), "]");
    };
    std::vector<std::string> parts;
    if (spread.final_loss) {
      parts.push_back(absl::StrCat("train ", range(*spread.final_loss, false)));
    }
    if (spread.val_loss) {
      std::string val = absl::StrCat("val ", range(*spread.val_loss, false));
      if (spread.val_accuracy) {
        absl::StrAppend(&val, ", acc ", range(*spread.val_accuracy, true));
      }
      parts.push_back(std::move(val));
    }
    if (spread.diverged > 0) {
      parts.push_back(absl::StrCat(spread.diverged, " of ", spread.runs, " NaN"));
    }
    result = absl::StrJoin(parts, " · ");
  }
  series.name = first.init;
  series.label = absl::StrCat(first.init, " ", first.formula, " ×", runs.size(), " — ", result);
  return series;
}

PlotInput MakePlotInput(const JobSummary& s) {
  const v1::Job& job = *s.job;
  const v1::JobSpec& spec = job.spec();
  PlotInput input;
  input.title =
      absl::StrCat("Init ablation: training and validation loss — job ", job.id(), " (",
                   job.name(), ")");
  // With vary_data_seed the runs drew their data from seeds of their own.
  std::set<uint64_t> data_seeds;
  for (const RunSummary& r : s.runs) data_seeds.insert(r.data_seed);
  if (data_seeds.empty()) data_seeds.insert(spec.data().seed());
  const std::string data_seed =
      data_seeds.size() == 1
          ? absl::StrCat("data seed ", *data_seeds.begin())
      : data_seeds.size() <= 4
          ? absl::StrCat("data seeds ", absl::StrJoin(data_seeds, ", "))
          : absl::StrCat(data_seeds.size(), " data seeds, ", *data_seeds.begin(), " to ",
                         *data_seeds.rbegin());
  input.subtitle = absl::StrCat(
      spec.model().depth(), "-layer ReLU MLP, width ", spec.model().width(), " · SGD lr ",
      Sig(spec.training().lr(), 6), ", momentum ", Sig(spec.training().momentum(), 6), " · batch ",
      spec.training().batch(), " · ", spec.training().steps(), " steps · ", data_seed, " · ",
      spec.data().train_size(), " train examples");
  input.steps = spec.training().steps();
  input.chance = s.chance;
  input.chance_label = absl::StrCat("chance (ln ", spec.model().classes(), ")");
  if (!s.spreads.empty()) {
    // Several seeds of an init: one median line with its min–max band per init.
    input.title = absl::StrCat(
        "Init ablation: training and validation loss over seeds (median, band min–max) — job ",
        job.id(), " (", job.name(), ")");
    std::vector<std::string> order;
    std::map<std::string, std::vector<const RunSummary*>> by_init;
    for (const RunSummary& r : s.runs) {
      if (by_init[r.init].empty()) order.push_back(r.init);
      by_init[r.init].push_back(&r);
    }
    for (size_t g = 0; g < order.size(); ++g) {
      PlotSeries series = SeedsSeries(s, by_init[order[g]]);
      series.rgb = InitColor(order[g]);
      input.series.push_back(std::move(series));
    }
    return input;
  }
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const RunSummary& r = s.runs[i];
    PlotSeries series;
    std::string result;
    if (r.first_nonfinite_step) {
      series.first_nonfinite = NonFiniteLabel(r.nonfinite.at(*r.first_nonfinite_step));
      result = absl::StrCat(series.first_nonfinite, " at step ", *r.first_nonfinite_step);
    } else if (r.flatline_step) {
      result = absl::StrCat("flatline from step ", *r.flatline_step);
    } else if (r.final_loss) {
      result = absl::StrCat("train ", Sig(*r.final_loss, 3));
    } else {
      result = "no steps";
    }
    if (r.last_eval) {
      absl::StrAppend(&result, " · val ", Sig(r.last_eval->loss(), 3), ", acc ",
                      Percent(r.last_eval->accuracy(), 3));
      if (r.generalisation == Generalisation::kMemorises ||
          r.generalisation == Generalisation::kOverfits) {
        absl::StrAppend(&result, " (", GeneralisationName(r.generalisation), ")");
      }
    }
    for (const v1::EvalResult& e : r.evals) {
      series.val_steps.push_back(e.step());
      series.val_losses.push_back(e.loss());
    }
    series.name = r.label;
    series.label = absl::StrCat(r.label, "  ", r.formula, ", seed ", r.weight_seed, " — ", result);
    series.losses = r.losses;
    series.first_nonfinite_step = r.first_nonfinite_step;
    series.flatline_step = r.flatline_step;
    series.rgb = InitColor(r.init);
    input.series.push_back(std::move(series));
  }
  return input;
}

// The first run of each init (and bounds): the runs the README's answers describe.
LayerPlotInput MakeLayerPlotInput(const JobSummary& s) {
  const v1::JobSpec& spec = s.job->spec();
  LayerPlotInput input;
  input.title = absl::StrCat("Init ablation: the signal per layer — job ", s.job->id(), " (",
                             s.job->name(), ")");
  input.subtitle = absl::StrCat(spec.model().depth(), "-layer ReLU MLP, width ",
                                spec.model().width(), " · activations: the first ",
                                spec.training().batch(),
                                " validation examples at init · gradients: step 0's batch");
  std::set<std::string> seen;
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const RunSummary& r = s.runs[i];
    if (!seen.insert(absl::StrCat(r.init, "/", r.formula)).second) continue;
    LayerSeries series;
    // The loss figure's colour for this run: its init's.
    series.rgb = InitColor(r.init);
    std::optional<size_t> bad_activation, missing_norm;
    for (size_t l = 0; l < r.layers.size(); ++l) {
      const LayerInit& layer = r.layers[l];
      series.activation_std.push_back(layer.activation_std);
      series.grad_norm.push_back(layer.first_step_grad_norm);
      if (!bad_activation && !(std::isfinite(layer.activation_std) && layer.activation_std > 0)) {
        bad_activation = l;
      }
      const bool drawable = layer.first_step_grad_norm &&
                            std::isfinite(*layer.first_step_grad_norm) &&
                            *layer.first_step_grad_norm > 0;
      if (!missing_norm && !drawable) missing_norm = l;
    }
    series.label = absl::StrCat(r.label, " ", r.formula);
    if (bad_activation) {
      absl::StrAppend(&series.label, " · activations 0 or non-finite from layer ",
                      *bad_activation + 1);
    }
    if (missing_norm && r.layers.empty()) {
      absl::StrAppend(&series.label, " · no layer statistics");
    } else if (missing_norm) {
      absl::StrAppend(&series.label,
                      r.layers[*missing_norm].first_step_grad_norm
                          ? absl::StrCat(" · gradient 0 or non-finite from layer ",
                                         *missing_norm + 1)
                          : std::string(" · no step-0 gradient (step 0 was non-finite)"));
    }
    input.series.push_back(std::move(series));
  }
  return input;
}

}  // namespace

const char* PlotFileFor(YScale scale) {
  return scale == YScale::kLog ? kPlotLogFile : kPlotLinearFile;
}

absl::StatusOr<std::vector<store::Artifact>> RenderJobArtifacts(const JobData& data,
                                                                const BuildInfo& build,
                                                                const HostInfo& host,
                                                                absl::Time generated_at) {
  absl::StatusOr<JobSummary> summary = Summarize(data);
  if (!summary.ok()) return summary.status();

  std::vector<store::Artifact> files;
  absl::StatusOr<std::string> job_json = JobJson(data.job.spec());
  if (!job_json.ok()) return job_json.status();
  files.push_back(MakeArtifact(kJobFile, "application/json", *std::move(job_json)));
  files.push_back(MakeArtifact(kLossesFile, "application/json", RenderLossesJson(*summary)));

  // The headline on the more informative scale, and the other scale under its own name (no
  // copy of the headline under a second name).
  const PlotInput input = MakePlotInput(*summary);
  const YScale headline_scale = ChooseScale(input);
  const YScale other_scale = headline_scale == YScale::kLog ? YScale::kLinear : YScale::kLog;
  absl::StatusOr<PlotImage> headline = RenderPlot(input, headline_scale);
  if (!headline.ok()) return headline.status();
  absl::StatusOr<PlotImage> other = RenderPlot(input, other_scale);
  if (!other.ok()) return other.status();
  files.push_back(MakeArtifact(kPlotFile, "image/png", headline->png));
  files.push_back(MakeArtifact(PlotFileFor(other_scale), "image/png", other->png));
  absl::StatusOr<std::string> layers = RenderLayerStats(MakeLayerPlotInput(*summary));
  if (!layers.ok()) return layers.status();
  files.push_back(MakeArtifact(kLayerStatsFile, "image/png", *std::move(layers)));

  files.push_back(MakeArtifact(kReadmeFile, "text/markdown; charset=utf-8",
                               RenderReadme(*summary, headline->layout, host, build)));
  files.push_back(
      MakeArtifact(kManifestFile, "application/json",
                   RenderManifest(*summary, build, host, headline->layout, files, generated_at)));
  return files;
}

absl::StatusOr<JobData> LoadJobData(store::Store& store, int64_t job_id) {
  JobData data;
  absl::StatusOr<v1::Job> job = wire::GetJob(store, job_id);
  if (!job.ok()) return job.status();
  data.job = *std::move(job);
  for (const v1::Run& run : data.job.runs()) {
    absl::StatusOr<store::Trajectory> trajectory = store.GetTrajectory(run.id());
    if (!trajectory.ok()) return trajectory.status();
    data.trajectories.push_back(*std::move(trajectory));
  }
  return data;
}

absl::Status BuildJobArtifacts(store::Store& store, int64_t job_id, const BuildInfo& build) {
  absl::StatusOr<JobData> data = LoadJobData(store, job_id);
  if (!data.ok()) return data.status();
  absl::StatusOr<std::vector<store::Artifact>> files =
      RenderJobArtifacts(*data, build, ReadHostInfo(), absl::Now());
  if (!files.ok()) return files.status();
  for (const store::Artifact& file : *files) {
    if (absl::Status s = store.PutArtifact(job_id, file); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace ablate::artifacts
