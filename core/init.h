// Weight initialisation schemes, looked up by name. Adding a scheme is one entry in init.cc.
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
