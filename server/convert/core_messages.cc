#include "server/convert/core_messages.h"

namespace ablate::convert {

core::InitConfig ToInitConfig(const v1::RunSpec& run) {
  core::InitConfig init;
  init.scheme = run.init();
  init.weight_seed = run.weight_seed();
  // Unset is not 0: U[0, 0] is no interval, and a spec that leaves the bounds out means lab 1's.
  if (run.has_uniform_low()) init.uniform_low = run.uniform_low();
  if (run.has_uniform_high()) init.uniform_high = run.uniform_high();
  return init;
}

core::ModelConfig ToModelConfig(const v1::ModelSpec& model) {
  return core::ModelConfig{.depth = model.depth(),
                           .width = model.width(),
                           .input_dim = model.input_dim(),
                           .classes = model.classes()};
}

}  // namespace ablate::convert
