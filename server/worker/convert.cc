#include "server/worker/convert.h"

#include <optional>

#include "server/convert/core_messages.h"

namespace ablate::worker {
namespace {

std::vector<core::LayerStats> FromStats(
    const google::protobuf::RepeatedPtrField<v1::LayerStats>& from) {
  std::vector<core::LayerStats> stats;
  for (const v1::LayerStats& s : from) {
    stats.push_back(core::LayerStats{
        .weight_variance = s.weight_variance(),
        .activation_mean = s.activation_mean(),
        .activation_std = s.activation_std(),
        .first_step_grad_norm = s.has_first_step_grad_norm()
                                    ? std::optional<double>(s.first_step_grad_norm())
                                    : std::nullopt});
  }
  return stats;
}

}  // namespace

v1::Experiment ToProto(const core::ExperimentConfig& c) {
  v1::Experiment e;
  e.set_depth(c.model.depth);
  e.set_width(c.model.width);
  e.set_input_dim(c.model.input_dim);
  e.set_classes(c.model.classes);
  e.set_train_size(c.data.train_size);
  e.set_val_size(c.data.val_size);
  e.set_label_dims(c.data.label_dims);
  e.set_data_seed(c.data.seed);
  e.set_steps(c.train.steps);
  e.set_batch(c.train.batch);
  e.set_lr(c.train.lr);
  e.set_momentum(c.train.momentum);
  e.set_eval_every(c.train.eval_every);
  e.set_stop_on_nonfinite(c.train.stop_on_nonfinite);
  e.set_flatline_window(c.train.flatline_window);
  e.set_flatline_tolerance(c.train.flatline_tolerance);
  e.set_flatline_grad_norm(c.train.flatline_grad_norm);
  return e;
}

core::ExperimentConfig FromProto(const v1::Experiment& e) {
  core::ExperimentConfig c;
  c.model.depth = e.depth();
  c.model.width = e.width();
  c.model.input_dim = e.input_dim();
  c.model.classes = e.classes();
  c.data.train_size = e.train_size();
  c.data.val_size = e.val_size();
  c.data.label_dims = e.label_dims();
  c.data.seed = e.data_seed();
  c.train.steps = e.steps();
  c.train.batch = e.batch();
  c.train.lr = e.lr();
  c.train.momentum = e.momentum();
  c.train.eval_every = e.eval_every();
  c.train.stop_on_nonfinite = e.stop_on_nonfinite();
  c.train.flatline_window = e.flatline_window();
  c.train.flatline_tolerance = e.flatline_tolerance();
  c.train.flatline_grad_norm = e.flatline_grad_norm();
  return c;
}

v1::Init ToProto(const core::InitConfig& init) {
  v1::Init i;
  i.set_scheme(init.scheme);
  i.set_weight_seed(init.weight_seed);
  i.set_uniform_low(init.uniform_low);
  i.set_uniform_high(init.uniform_high);
  return i;
}

core::InitConfig FromProto(const v1::Init& i) {
  return core::InitConfig{.scheme = i.scheme(),
                          .weight_seed = i.weight_seed(),
                          .uniform_low = i.uniform_low(),
                          .uniform_high = i.uniform_high()};
}

v1::Outcome ToProto(const core::RunResult& r) {
  v1::Outcome o;
  switch (r.outcome) {
    case core::Outcome::kCompleted:
      o.set_kind(v1::Outcome::KIND_COMPLETED);
      break;
    case core::Outcome::kDiverged:
      o.set_kind(v1::Outcome::KIND_DIVERGED);
      break;
    case core::Outcome::kCancelled:
      o.set_kind(v1::Outcome::KIND_CANCELLED);
      break;
  }
  o.set_steps_run(r.steps_run);
  if (r.first_nonfinite_step) o.set_first_nonfinite_step(*r.first_nonfinite_step);
  if (r.flatline_step) o.set_flatline_step(*r.flatline_step);
  o.set_final_loss(r.final_loss);
  if (r.final_eval) {
    v1::Eval& eval = *o.mutable_final_eval();
    eval.set_step(r.final_eval->step);
    eval.set_loss(r.final_eval->loss);
    eval.set_accuracy(r.final_eval->accuracy);
  }
  convert::AppendLayerStats(r.init_stats, *o.mutable_init_stats());
  convert::AppendLayerStats(r.final_stats, *o.mutable_final_stats());
  o.set_seconds(r.seconds);
  return o;
}

core::RunResult FromProto(const v1::Outcome& o) {
  core::RunResult r;
  switch (o.kind()) {
    case v1::Outcome::KIND_DIVERGED:
      r.outcome = core::Outcome::kDiverged;
      break;
    case v1::Outcome::KIND_CANCELLED:
      r.outcome = core::Outcome::kCancelled;
      break;
    default:
      r.outcome = core::Outcome::kCompleted;
      break;
  }
  r.steps_run = o.steps_run();
  if (o.has_first_nonfinite_step()) r.first_nonfinite_step = o.first_nonfinite_step();
  if (o.has_flatline_step()) r.flatline_step = o.flatline_step();
  r.final_loss = o.final_loss();
  if (o.has_final_eval()) {
    r.final_eval = core::EvalRecord{.step = o.final_eval().step(),
                                    .loss = o.final_eval().loss(),
                                    .accuracy = o.final_eval().accuracy()};
  }
  r.init_stats = FromStats(o.init_stats());
  r.final_stats = FromStats(o.final_stats());
  r.seconds = o.seconds();
  return r;
}

}  // namespace ablate::worker
