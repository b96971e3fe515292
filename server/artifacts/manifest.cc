#include "server/artifacts/manifest.h"

#include <cmath>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/config.h"
#include "server/artifacts/format.h"
#include "server/artifacts/json_util.h"

namespace ablate::artifacts {
namespace {

Json TimeOrNull(const google::protobuf::Timestamp& time) { return OrNull(TimestampString(time)); }

Json TextOrNull(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

Json Eval(const v1::EvalResult& e) {
  Json j;
  j["step"] = e.step();
  j["loss"] = LossJson(e.loss());
  j["accuracy"] = LossJson(e.accuracy());
  return j;
}

Json OptionalLoss(const std::optional<float>& v) { return v ? LossJson(*v) : Json(nullptr); }

Json RunJson(const RunSummary& r, const v1::Run& run) {
  Json j;
  j["run_id"] = r.run_id;
  j["index"] = r.index;
  j["label"] = r.label;
  j["init"] = r.init;
  j["formula"] = r.formula;
  j["reference"] = r.reference;
  j["weight_seed"] = r.weight_seed;
  j["data_seed"] = r.data_seed;
  if (r.uniform_low) j["uniform_low"] = *r.uniform_low;
  if (r.uniform_high) j["uniform_high"] = *r.uniform_high;
  j["state"] = v1::RunState_Name(r.state);
  j["outcome"] = r.outcome;
  j["verdict"] = VerdictName(r.verdict);
  j["steps_recorded"] = r.losses.size();
  j["first_nonfinite_step"] = OrNull(r.first_nonfinite_step);
  j["flatline_step"] = OrNull(r.flatline_step);
  j["flatline_grad_norm"] = r.flatline_grad_median ? Json{{"median", *r.flatline_grad_median},
                                                          {"max", *r.flatline_grad_max}}
                                                   : Json(nullptr);
  j["final_loss"] = OptionalLoss(r.final_loss);
  j["start_loss"] = OrNull(r.start_level);
  j["end_loss"] = OrNull(r.end_level);
  j["peak_loss"] =
      r.peak_loss ? Json{{"step", *r.peak_step}, {"loss", LossJson(*r.peak_loss)}} : Json(nullptr);
  j["final_eval"] = r.final_eval ? Eval(*r.final_eval) : Json(nullptr);
  j["last_eval"] = r.last_eval ? Eval(*r.last_eval) : Json(nullptr);
  j["best_eval"] = r.best_eval ? Eval(*r.best_eval) : Json(nullptr);
  j["generalisation"] = GeneralisationName(r.generalisation);
  if (r.tail) {
    j["tail_trend"] = {{"first_step", r.tail->first_step},
                       {"last_step", r.tail->last_step},
                       {"slope_per_step", r.tail->slope},
                       {"mean_loss", r.tail->mean},
                       {"fitted_drop", r.tail->fitted_drop},
                       {"relative_drop", r.tail->relative_drop},
                       {"status", r.tail->status}};
  } else {
    j["tail_trend"] = nullptr;
  }
  const double steps_per_second =
      r.timing.total_seconds > 0 ? static_cast<double>(r.losses.size()) / r.timing.total_seconds
                                 : 0.0;
  j["timing"] = {{"total_step_seconds", r.timing.total_seconds},
                 {"median_step_seconds", r.timing.median_seconds},
                 {"p95_step_seconds", r.timing.p95_seconds},
                 {"steps_per_second", steps_per_second},
                 {"run_seconds", r.timing.run_seconds}};
  j["started_at"] = TimeOrNull(run.started_at());
  j["finished_at"] = TimeOrNull(run.finished_at());
  // The build that trained these steps: runs of one spec are bit-identical across builds with
  // the same fingerprint (README, "Reproducibility").
  j["fingerprint"] = TextOrNull(run.fingerprint());
  // Why the run started over from step 0 (its earlier steps are kept aside in the database).
  j["restart_reason"] = TextOrNull(run.restart_reason());
  Json layers = Json::array();
  for (size_t l = 0; l < r.layers.size(); ++l) {
    const LayerInit& layer = r.layers[l];
    layers.push_back({{"layer", l},
                      {"fan_in", layer.fan_in},
                      {"fan_out", layer.fan_out},
                      {"weight_variance", layer.weight_variance},
                      {"expected_weight_variance", OrNull(layer.expected_variance)},
                      {"relu_variance_gain", OrNull(layer.relu_gain)},
                      {"activation_mean", layer.activation_mean},
                      {"activation_std", layer.activation_std},
                      {"first_step_grad_norm", OrNull(layer.first_step_grad_norm)}});
  }
  j["init_stats"] = std::move(layers);
  return j;
}

Json ResultsSummary(const JobSummary& s) {
  Json j;
  Json notes = Json::array();
  j["steps_to_nan_uniform"] = OrNull(s.steps_to_nan_uniform);
  j["flatline_step_uniform"] = OrNull(s.flatline_step_uniform);
  if (!s.uniform) {
    notes.push_back("steps_to_nan_uniform is null: the job has no uniform run.");
  } else if (!s.steps_to_nan_uniform) {
    notes.push_back("steps_to_nan_uniform is null: the uniform run's losses are all finite.");
  }
  if (s.uniform_runs > 1) {
    notes.push_back(absl::StrCat("The job has ", s.uniform_runs,
                                 " uniform runs; the uniform fields describe the first, ",
                                 s.runs[*s.uniform].label, "."));
  }
  j["final_loss_xavier"] = OptionalLoss(s.final_loss_xavier);
  j["final_loss_kaiming"] = OptionalLoss(s.final_loss_kaiming);
  for (const auto& [name, value, count] :
       {std::tuple{"xavier", s.final_loss_xavier, s.xavier_runs},
        std::tuple{"kaiming", s.final_loss_kaiming, s.kaiming_runs}}) {
    if (count == 0) {
      notes.push_back(
          absl::StrCat("final_loss_", name, " is null: the job has no ", name, " run."));
    } else if (value && !std::isfinite(*value)) {
      notes.push_back(absl::StrCat("final_loss_", name, " is null: its last loss was ",
                                   ShortestFloat(*value), "."));
    }
    if (count > 1) {
      notes.push_back(absl::StrCat("The job has ", count, " ", name, " runs; the ", name,
                                   " fields describe the first."));
    }
  }
  j["xavier_slope_last200"] = OrNull(s.xavier_slope_last200);
  j["xavier_status"] =
      s.xavier && s.runs[*s.xavier].tail ? Json(s.runs[*s.xavier].tail->status) : Json(nullptr);
  if (s.xavier && !s.xavier_slope_last200) {
    notes.push_back(
        "xavier_slope_last200 is null: the xavier run's last steps hold a non-finite "
        "loss, or fewer than two steps.");
  }
  j["kaiming_step_at_xavier_final"] = OrNull(s.kaiming_step_at_xavier_final);
  j["val_loss_xavier"] = OptionalLoss(s.val_loss_xavier);
  j["val_loss_kaiming"] = OptionalLoss(s.val_loss_kaiming);
  j["val_accuracy_xavier"] = OptionalLoss(s.val_accuracy_xavier);
  j["val_accuracy_kaiming"] = OptionalLoss(s.val_accuracy_kaiming);
  j["xavier_generalises"] = OrNull(s.xavier_generalises);
  j["kaiming_generalises"] = OrNull(s.kaiming_generalises);
  for (const auto& [name, first] :
       {std::pair{"xavier", s.xavier}, std::pair{"kaiming", s.kaiming}}) {
    if (first && s.runs[*first].generalisation == Generalisation::kTooFewExamples) {
      notes.push_back(absl::StrCat(name, "_generalises is null: the validation set has ",
                                   s.job->spec().data().val_size(), " examples, fewer than the ",
                                   s.criteria.min_validation_examples,
                                   " a generalisation verdict needs."));
    }
  }
  if (s.uniform_failed) {
    j["lab_expectation"] = {
        {"uniform_failed", *s.uniform_failed},
        {"kaiming_trained", *s.kaiming_trained},
        {"xavier_in_between", *s.xavier_in_between},
        {"met", *s.uniform_failed && *s.kaiming_trained && *s.xavier_in_between},
        {"judged_on", "training loss"},
        {"kaiming_generalises", OrNull(s.kaiming_generalises)}};
  } else {
    j["lab_expectation"] = nullptr;
  }
  Json runs = Json::array();
  for (const RunSummary& r : s.runs) {
    runs.push_back(
        {{"run_id", r.run_id},
         {"label", r.label},
         {"outcome", r.outcome},
         {"verdict", VerdictName(r.verdict)},
         {"final_loss", OptionalLoss(r.final_loss)},
         {"final_val_loss", r.final_eval ? LossJson(r.final_eval->loss()) : Json(nullptr)},
         {"final_val_accuracy",
          r.final_eval ? LossJson(r.final_eval->accuracy()) : Json(nullptr)},
         {"generalisation", GeneralisationName(r.generalisation)}});
  }
  j["runs"] = std::move(runs);
  Json predictions = Json::array();
  for (const DepthPrediction& p : s.predictions) {
    predictions.push_back({{"init", p.init},
                           {"first_layer_relu_gain", p.first_layer_gain},
                           {"relu_gain_per_layer", p.hidden_gain},
                           {"depth", p.depth},
                           {"variance_ratio", p.ratio},
                           {"deeper_depth", p.deeper_depth},
                           {"deeper_variance_ratio", p.deeper_ratio},
                           {"regime", p.regime},
                           {"prediction", p.text}});
  }
  j["depth_prediction"] = std::move(predictions);
  Json depth_checks = Json::array();
  for (const DepthCheck& c : s.depth_checks) {
    depth_checks.push_back({{"init", c.init},
                            {"depth", c.depth},
                            {"variance_ratio", c.ratio},
                            {"regime", c.regime},
                            {"expected", c.expected},
                            {"observed", c.observed},
                            {"held", c.held ? Json(*c.held) : Json(nullptr)}});
  }
  j["depth_outcomes"] = std::move(depth_checks);
  const auto spread_json = [](const std::optional<Spread>& spread) {
    if (!spread) return Json(nullptr);
    return Json{{"n", spread->n},
                {"min", spread->min},
                {"median", spread->median},
                {"max", spread->max}};
  };
  Json seeds = Json::array();
  for (const InitSpread& i : s.spreads) {
    seeds.push_back({{"init", i.init},
                     {"runs", i.runs},
                     {"weight_seeds", i.weight_seeds},
                     {"data_seeds", i.data_seeds},
                     {"final_loss", spread_json(i.final_loss)},
                     {"val_loss", spread_json(i.val_loss)},
                     {"val_accuracy", spread_json(i.val_accuracy)},
                     {"first_nonfinite_step", spread_json(i.first_nonfinite_step)},
                     {"diverged", i.diverged},
                     {"generalised", i.generalised},
                     {"memorised", i.memorised}});
  }
  j["seeds"] = std::move(seeds);
  j["notes"] = std::move(notes);
  return j;
}

Json Definitions(const JobSummary& s) {
  const Criteria& c = s.criteria;
  const core::TrainConfig flatline;  // the server trains with the core's flatline defaults
  return {
      {"steps_to_nan_uniform",
       "The first step (0-based) whose training loss was NaN or infinite, of the job's first "
       "uniform run; null when all its losses are finite or the job has no uniform run."},
      {"final_loss_xavier / final_loss_kaiming",
       "The training loss of the last recorded step of the job's first xavier / kaiming run "
       "(null when there is none, or when that loss is not finite)."},
      {
          "xavier_slope_last200",
          absl::StrCat("Least-squares slope, in loss per step, of the xavier run's last ",
                       c.slope_window, " training losses (core::TailSlope)."),
      },
      {"xavier_status / tail_trend.status",
       absl::StrCat("\"training\" when the fitted line over those steps falls by at least ",
                    Percent(c.training_min_drop, 2),
                    " of the window's mean loss; \"almost not training\" when it falls by less; "
                    "\"not training\" when it is flat or rises.")},
      {"verdict",
       absl::StrCat("diverged: a non-finite loss; flatlined: Run.flatline_step is set; trained: "
                    "end_loss below ",
                    Sig(c.trained_fraction_of_chance, 2),
                    " × chance (ln classes = ", Sig(s.chance, 4), "); learning: end_loss at least ",
                    Percent(c.learning_min_drop, 2), " below start_loss; not learning: neither.")},
      {"flatline_step",
       absl::StrCat(
           "The first step of the stretch, at least ", flatline.flatline_window,
           " steps long and lasting to the run's last step, in which every training loss was "
           "within ",
           Sig(flatline.flatline_tolerance, 3),
           " of chance (ln classes): the loss "
           "flatlined at random. Judged on the loss alone (a saturated network's weight-gradient "
           "norm can spike now and then); flatline_grad_norm gives that norm's median and maximum "
           "over the stretch. A stretch at chance that the loss left again is not one.")},
      {"lab_expectation",
       "The lab's expected outcome, judged on the training loss of each init's first run: "
       "uniform_failed when uniform diverged or flatlined, kaiming_trained when kaiming's "
       "verdict is trained, xavier_in_between when xavier learned without training (verdict "
       "learning) to an end_loss above kaiming's; met when all three hold."},
      {"generalisation",
       absl::StrCat("From the run's last validation: generalises when its loss is below chance (",
                    Sig(s.chance, 4), ") and its accuracy at least ",
                    Percent(c.generalisation_margin, 2),
                    " above chance accuracy (1/classes); when it trained (see verdict) but does "
                    "not generalise, overfits when its accuracy is still that far above chance "
                    "(it learned much of the rule and is confidently wrong on the rest) and "
                    "memorises when it is not (it fit its training examples without the rule). "
                    "None of these from a validation set of fewer than ",
                    c.min_validation_examples,
                    " examples (\"too few validation examples\"; *_generalises null): a "
                    "classifier at chance scores within about 0.5/√n of chance accuracy over n "
                    "examples, and below that many the margin is within two such standard "
                    "errors.")},
      {"depth_outcomes",
       absl::StrCat(
           "Question 4 checked at the job's own depth: the regime the init's variance_ratio "
           "predicts (beyond 10^±2: explodes / vanishes; dies when uniform weights are all <= 0), "
           "what it implies, what the run did, and whether it held. held is null (could not be "
           "tested) for a run of fewer than ",
           2 * c.level_window,
           " steps (two start_loss / end_loss windows) unless it shows decisive evidence: a "
           "non-finite loss or one above ",
           absl::StrFormat("%.0f", c.exploded_multiple_of_chance),
           " × chance (explodes), a flatline (vanishes, dies), an end_loss below the trained "
           "threshold (keeps its scale).")},
      {"seeds",
       "For each init the job trains under two or more weight seeds: min, nearest-rank median "
       "and max over its runs of the final training loss, last validation loss and accuracy, "
       "and the first non-finite step (over the runs that had one)."},
      {"step indexing",
       "The training loss at step k is measured on a batch before update k+1, so the last one "
       "(step steps−1) precedes the last update; a validation at step k follows k updates, so "
       "the final validation (step steps) follows the last update."},
      {"best_eval",
       absl::StrCat("The run's validation with the lowest finite loss. The README names its "
                    "step as where the run began to overfit only when the run has at least ",
                    c.min_evals_for_lowest,
                    " finite validations; with fewer the grid is too coarse to place the "
                    "minimum.")},
      {"start_loss / end_loss",
       absl::StrCat("Mean of the first / last ", c.level_window, " finite training losses.")},
      {"kaiming_step_at_xavier_final",
       "The first step at which the kaiming run's loss was at or below the xavier run's final "
       "loss."},
      {"variance_ratio",
       "first_layer_relu_gain × relu_gain_per_layer^(depth − 2): the forward variance that "
       "reaches the last layer relative to the input's, at init (He et al. 2015, eq. 10)."},
      {"timing",
       "From the recorded wall time of every step (forward, backward, update); "
       "run_seconds also counts evaluation. p95 is the nearest-rank 95th percentile."},
      {"losses",
       "Float32 values written as the shortest decimal that reads back as the same float32."}};
}

}  // namespace

std::string RenderManifest(const JobSummary& summary, const BuildInfo& build, const HostInfo& host,
                           const PlotLayout& plot, const std::vector<store::Artifact>& files,
                           absl::Time generated_at) {
  const v1::Job& job = *summary.job;
  Json root;
  root["schema"] = kManifestSchema;
  root["generated_at"] = TimeString(generated_at);

  // When the job finished: the job is marked finished only after its files are built, so
  // until then this is the end of its last run.
  google::protobuf::Timestamp finished = job.finished_at();
  if (finished.seconds() == 0 && finished.nanos() == 0) {
    for (const v1::Run& run : job.runs()) {
      if (std::make_tuple(run.finished_at().seconds(), run.finished_at().nanos()) >
          std::make_tuple(finished.seconds(), finished.nanos())) {
        finished = run.finished_at();
      }
    }
  }
  root["job"] = {{"id", job.id()},
                 {"name", job.name()},
                 {"owner", job.owner()},
                 {"created_at", TimeOrNull(job.created_at())},
                 {"started_at", TimeOrNull(job.started_at())},
                 {"finished_at", TimeOrNull(finished)}};
  root["ablate"] = {{"version", build.version}, {"git_commit", build.git_commit}};
  root["build"] = {{"compiler", build.compiler},
                   {"flags", build.flags},
                   {"build_type", build.build_type},
                   {"eigen_version", build.eigen_version},
                   {"matrix_products", build.matrix_products},
                   {"libraries", build.libraries}};
  root["host"] = {
      {"hostname", host.hostname},
      {"os", host.os},
      {"cpu_model", host.cpu_model},
      {"logical_cpus", host.logical_cpus},
      {"memory_bytes", OrNull(host.memory_bytes)},
      {"cpu_governor", OrNull(host.cpu_governor)},
      {"cpu_governor_source", host.cpu_governor_source},
      {"cpu_governor_error",
       host.cpu_governor_error.empty() ? Json(nullptr) : Json(host.cpu_governor_error)}};
  Json warnings = Json::array();
  if (const std::string w = GovernorWarning(host); !w.empty()) warnings.push_back(w);
  root["warnings"] = std::move(warnings);

  root["spec"] = ProtoJson(job.spec());
  Json weights = Json::object();
  Json data = Json::object();
  Json varied = Json::array({"weights"});
  for (const RunSummary& r : summary.runs) {
    weights[std::to_string(r.run_id)] = r.weight_seed;
    data[std::to_string(r.run_id)] = r.data_seed;
    if (r.data_seed != job.spec().data().seed() && varied.size() == 1) varied.push_back("data");
  }
  // "data" is the job's data seed; "data_per_run" what each run trained on (they differ when
  // the job varied its data seed, which "varied" then lists).
  root["seeds"] = {{"data", job.spec().data().seed()},
                   {"weights", std::move(weights)},
                   {"data_per_run", std::move(data)},
                   {"varied", std::move(varied)}};

  Json runs = Json::array();
  for (size_t i = 0; i < summary.runs.size(); ++i) {
    runs.push_back(RunJson(summary.runs[i], job.runs(static_cast<int>(i))));
  }
  root["runs"] = std::move(runs);
  root["results_summary"] = ResultsSummary(summary);

  Json checks = Json::array();
  for (const Check& c : summary.checks) {
    checks.push_back({{"id", c.id},
                      {"criterion", c.criterion},
                      {"applicable", c.applicable},
                      {"fired", c.fired},
                      {"message", c.fired ? Json(c.message) : Json(nullptr)}});
  }
  root["checks"] = std::move(checks);

  Json clipped = Json::array();
  for (const ClippedRun& c : plot.clipped) {
    clipped.push_back({{"label", c.name},
                       {"peak_step", c.peak_step},
                       {"peak_loss", LossJson(c.peak)},
                       {"points_above", c.points}});
  }
  root["plot"] = {{"headline", "loss_curves.png"},
                  {"scale", YScaleName(plot.scale)},
                  {"reason", plot.reason},
                  {"decades", plot.decades},
                  {"y_clipped_at", OrNull(plot.clip_at)},
                  {"clipped", std::move(clipped)},
                  {"annotations", plot.annotations},
                  {"size_px", {kPlotWidth, kPlotHeight}}};

  Json file_list = Json::object();
  for (const store::Artifact& f : files) {
    file_list[f.name] = {
        {"sha256", f.sha256}, {"bytes", f.data.size()}, {"content_type", f.content_type}};
  }
  root["files"] = std::move(file_list);
  root["definitions"] = Definitions(summary);
  return PrettyJson(root);
}

}  // namespace ablate::artifacts
