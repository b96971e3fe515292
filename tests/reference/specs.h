// The runs that the core is compared on against an independent implementation (PyTorch, see
// torch_reference.py): lab 1's three inits at depth 12, the lab's Block D question (Xavier at
// depth 24), and a small orthogonal run. The exporter, the fixture and the test all take their
// specs from here; the fixture records each spec, and the test refuses a fixture whose spec
// differs.
#ifndef ABLATE_TESTS_REFERENCE_SPECS_H_
#define ABLATE_TESTS_REFERENCE_SPECS_H_

#include <string>
#include <vector>

#include "core/config.h"
#include "nlohmann/json.hpp"

namespace ablate::reference {

struct ReferenceSpec {
  std::string name;
  core::ExperimentConfig config;
  core::InitConfig init;
};

inline std::vector<ReferenceSpec> ReferenceSpecs() {
  const std::vector<core::InitConfig> lab_runs = core::LabRuns();  // uniform, xavier, kaiming
  std::vector<ReferenceSpec> specs;
  for (const core::InitConfig& init : lab_runs) {
    specs.push_back({"lab1_" + init.scheme, core::LabExperiment(), init});
  }

  core::ExperimentConfig deep = core::LabExperiment();
  deep.model.depth = 24;
  specs.push_back({"depth24_xavier", deep, lab_runs[1]});

  core::ExperimentConfig small;
  small.model = {.depth = 4, .width = 64, .input_dim = 32, .classes = 2};
  small.data = {.train_size = 512, .val_size = 64, .label_dims = 10, .seed = 2};
  small.train.steps = 500;
  small.train.batch = 32;
  small.train.lr = 1e-2;
  small.train.momentum = 0.9;
  specs.push_back({"small_orthogonal", small, {.scheme = "orthogonal", .weight_seed = 7}});
  return specs;
}

// Every field of a spec that decides its trajectory, as the fixture records it.
inline nlohmann::json SpecToJson(const ReferenceSpec& spec) {
  const core::ExperimentConfig& c = spec.config;
  return {
      {"model",
       {{"depth", c.model.depth},
        {"width", c.model.width},
        {"input_dim", c.model.input_dim},
        {"classes", c.model.classes}}},
      {"data",
       {{"train_size", c.data.train_size},
        {"val_size", c.data.val_size},
        {"label_dims", c.data.label_dims},
        {"seed", c.data.seed}}},
      {"train",
       {{"steps", c.train.steps},
        {"batch", c.train.batch},
        {"lr", c.train.lr},
        {"momentum", c.train.momentum},
        {"stop_on_nonfinite", c.train.stop_on_nonfinite},
        {"flatline_window", c.train.flatline_window},
        {"flatline_tolerance", c.train.flatline_tolerance},
        {"flatline_grad_norm", c.train.flatline_grad_norm}}},
      {"init",
       {{"scheme", spec.init.scheme},
        {"weight_seed", spec.init.weight_seed},
        {"uniform_low", spec.init.uniform_low},
        {"uniform_high", spec.init.uniform_high}}},
  };
}

}  // namespace ablate::reference

#endif  // ABLATE_TESTS_REFERENCE_SPECS_H_
