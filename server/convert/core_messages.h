// The core's configuration and results in the project's messages, where more than one part of the
// server needs the same mapping: the API's run and model specs (ablate.v1) as core configs, and
// the core's per-layer statistics as the LayerStats of the API or of the worker protocol (the two
// messages carry the same fields). Depends on the core and the generated code only, so the jobs,
// the artifacts and the worker may all use it.
#ifndef ABLATE_SERVER_CONVERT_CORE_MESSAGES_H_
#define ABLATE_SERVER_CONVERT_CORE_MESSAGES_H_

#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "core/config.h"
#include "core/trainer.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace ablate::convert {

// The init a run trains with. An unset uniform bound is core::InitConfig's default (lab 1's
// U[-0.5, 0.5]), as ResolveSpec fills it in; the bounds matter to the uniform scheme alone.
core::InitConfig ToInitConfig(const v1::RunSpec& run);

// The MLP's shape of a spec's model (its fields as they are: unset is 0).
core::ModelConfig ToModelConfig(const v1::ModelSpec& model);

// Appends one LayerStats message per layer. `Message` is ablate.v1.LayerStats or
// ablate.worker.v1.LayerStats.
template <typename Message>
void AppendLayerStats(const std::vector<core::LayerStats>& from,
                      google::protobuf::RepeatedPtrField<Message>& to) {
  for (const core::LayerStats& s : from) {
    Message& out = *to.Add();
    out.set_weight_variance(s.weight_variance);
    out.set_activation_mean(s.activation_mean);
    out.set_activation_std(s.activation_std);
    if (s.first_step_grad_norm) out.set_first_step_grad_norm(*s.first_step_grad_norm);
  }
}

}  // namespace ablate::convert

#endif  // ABLATE_SERVER_CONVERT_CORE_MESSAGES_H_
