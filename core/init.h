// Weight initialisation schemes, looked up by name. Adding a scheme is one entry in init.cc.
//
// A note for comparing with PyTorch: the lab's "xavier" is N(0, 1/n_in), the fan-in form known
// as LeCun normal (Keras's lecun_normal; PyTorch draws it with kaiming_normal_ and
// nonlinearity="linear"). torch.nn.init.xavier_normal_ is Glorot's averaged form
// N(0, 2/(n_in + n_out)): the same on the lab's square 256→256 layers, different on its last
// (256→2, where PyTorch's variance is about twice the lab's) and on any non-square layer.
// "xavier_uniform" here is PyTorch's xavier_uniform_ (gain 1).
#ifndef ABLATE_CORE_INIT_H_
#define ABLATE_CORE_INIT_H_

#include <span>
#include <string_view>

#include "core/config.h"
#include "core/random.h"
#include "core/tensor.h"

namespace ablate::core {

struct InitScheme {
  std::string_view name;         // "kaiming"
  std::string_view formula;      // "N(0, 2/n_in)"
  std::string_view reference;    // the paper that introduced it
  // The variance of one weight of a (fan_out × fan_in) layer.
  double (*variance)(int fan_in, int fan_out, const InitConfig& init);
  // Fills `weight` (fan_out × fan_in) from `rng`, row by row.
  void (*fill)(Matrix& weight, const InitConfig& init, Rng& rng);
};

// Every registered scheme, in a fixed order.
std::span<const InitScheme> InitSchemes();

// The scheme called `name`, or nullptr.
const InitScheme* FindInitScheme(std::string_view name);

// The forward variance gain of one Linear+ReLU layer under `scheme`: n_in · Var(w) / 2
// (He et al. 2015, eq. 10). 1 keeps activations at one scale; above 1 they grow geometrically
// with depth, below 1 they shrink.
double ReluVarianceGain(const InitScheme& scheme, int fan_in, int fan_out,
                        const InitConfig& init);

}  // namespace ablate::core

#endif  // ABLATE_CORE_INIT_H_
