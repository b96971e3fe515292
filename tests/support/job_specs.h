// Small job specs for tests that train for real: models small enough that a step takes
// microseconds, so a test chooses its length by the number of steps alone.
#ifndef ABLATE_TESTS_SUPPORT_JOB_SPECS_H_
#define ABLATE_TESTS_SUPPORT_JOB_SPECS_H_

#include <string>

#include "ablate/v1/ablate.pb.h"
#include "server/jobs/spec.h"

namespace ablate::test_support {

// What TinySpec lets a test vary besides the steps. The defaults give a model of 4 layers of
// width 32, evaluated every 10 steps: a few milliseconds for a few dozen steps.
struct TinyModel {
  int depth = 4;
  int width = 32;  // also the input dimension
  int eval_every = 10;
  std::string name;  // unset when empty
};

// One kaiming run of a small model for `steps` steps; 100000 steps keep it training until
// cancelled. Tests that compute with the spec's numbers (quota limits) rely on exactly these
// fields: the rest are the lab's defaults.
inline v1::JobSpec TinySpec(int steps, const TinyModel& model = {}) {
  v1::JobSpec spec;
  if (!model.name.empty()) spec.set_name(model.name);
  spec.mutable_training()->set_steps(steps);
  spec.mutable_training()->set_eval_every(model.eval_every);
  spec.mutable_model()->set_depth(model.depth);
  spec.mutable_model()->set_width(model.width);
  spec.mutable_model()->set_input_dim(model.width);
  spec.add_runs()->set_init("kaiming");
  return spec;
}

// A short version of lab 1, named "short lab": the lab's three runs (uniform, xavier,
// kaiming) on 4 layers of width 32, evaluated every 10 steps. Clear the model to get lab 1's
// own, where uniform diverges.
inline v1::JobSpec ShortLab(int steps) {
  v1::JobSpec spec = TinySpec(steps, {.name = "short lab"});
  spec.clear_runs();  // the lab's default runs, filled in when the spec is resolved
  return spec;
}

// One kaiming run of a 2-layer model of width 8 on a tiny data set, evaluated only at the end,
// resolved: steps come far faster than anything downstream (a stalled stream's window, a
// store's size cap) can take them.
inline v1::JobSpec ManyStepsSpec(int steps, const std::string& name) {
  v1::JobSpec spec;
  spec.set_name(name);
  spec.mutable_model()->set_depth(2);
  spec.mutable_model()->set_width(8);
  spec.mutable_model()->set_input_dim(8);
  spec.mutable_data()->set_label_dims(4);
  spec.mutable_data()->set_train_size(64);
  spec.mutable_data()->set_val_size(16);
  spec.mutable_training()->set_batch(8);
  spec.mutable_training()->set_steps(steps);
  spec.mutable_training()->set_eval_every(steps);
  spec.add_runs()->set_init("kaiming");
  return *jobs::ResolveSpec(spec);
}

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_JOB_SPECS_H_
