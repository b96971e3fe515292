#include "core/config.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

#include "core/init.h"

namespace ablate::core {

namespace {

// Joins the arguments as an ostream would print them (GCC 12 has no std::format).
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// A value the user gave, quoted back in an error: whole when short, otherwise its first
// kShownBytes bytes, cut between UTF-8 characters, and "...". A scheme name is a word, and an
// error that echoed a megabyte back would bury the sentence around it.
std::string Shown(const std::string& text) {
  constexpr size_t kShownBytes = 40;
  if (text.size() <= kShownBytes) return text;
  size_t end = kShownBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

std::optional<ConfigError> CheckRange(const char* field, long long value, long long low,
                                      long long high) {
  if (value >= low && value <= high) return std::nullopt;
  return ConfigError{field, Cat(field, " must be between ", low, " and ", high, " (got ", value, ").")};
}

// Weights and biases of every layer, in doubles: an unchecked width or depth may overflow an int.
double ParameterCount(const ModelConfig& m) {
  double count = 0;
  for (const LayerShape& layer : LayerShapes(m)) count += (layer.fan_in + 1.0) * layer.fan_out;
  return count;
}

}  // namespace

std::vector<LayerShape> LayerShapes(const ModelConfig& model) {
  std::vector<LayerShape> shapes;
  for (int l = 0; l < model.depth; ++l) {
    shapes.push_back({.fan_in = l == 0 ? model.input_dim : model.width,
                      .fan_out = l == model.depth - 1 ? model.classes : model.width});
  }
  return shapes;
}

std::optional<ConfigError> Validate(const ExperimentConfig& config) {
  const ModelConfig& m = config.model;
  const DataConfig& d = config.data;
  const TrainConfig& t = config.train;
  for (auto error : {
           CheckRange("model.depth", m.depth, 1, kMaxDepth),
           CheckRange("model.width", m.width, 1, kMaxWidth),
           CheckRange("model.input_dim", m.input_dim, 1, kMaxWidth),
           CheckRange("data.train_size", d.train_size, 1, kMaxExamples),
           CheckRange("data.val_size", d.val_size, 1, kMaxExamples),
           CheckRange("data.label_dims", d.label_dims, 1, m.input_dim),
           CheckRange("train.steps", t.steps, 1, kMaxSteps),
           CheckRange("train.batch", t.batch, 1, d.train_size),
           CheckRange("train.eval_every", t.eval_every, 1, kMaxSteps),
           CheckRange("train.flatline_window", t.flatline_window, 1, kMaxSteps),
       }) {
    if (error) return error;
  }
  const double parameters = ParameterCount(m);
  if (parameters > kMaxParameters) {
    return ConfigError{"model.width",
                       Cat("the model would have ", static_cast<long long>(parameters),
                           " parameters; at most ", kMaxParameters,
                           " fit in memory (lower model.width or model.depth).")};
  }
  if (m.classes < 2 || m.classes > kMaxClasses) {
    return ConfigError{"model.classes",
                       Cat("model.classes must be 2: the lab's label rule has two classes (got ", m.classes, ").")};
  }
  // Normal numbers only: a denormal (1e-320, say) is as good as 0 to training, and arithmetic
  // on denormals is up to a hundred times slower on common CPUs.
  if (!std::isnormal(t.lr) || t.lr < 0 || t.lr > kMaxLr) {
    return ConfigError{"train.lr", Cat("train.lr must be a normal number (not denormal: at least ",
                                       std::numeric_limits<double>::min(), ") in (0, ", kMaxLr,
                                       "] (got ", t.lr, ").")};
  }
  if (!(t.momentum == 0 || std::isnormal(t.momentum)) || t.momentum < 0 || t.momentum >= 1) {
    return ConfigError{"train.momentum",
                       Cat("train.momentum must be in [0, 1), and 0 or a normal number (not "
                           "denormal: at least ",
                           std::numeric_limits<double>::min(), ") (got ", t.momentum, ").")};
  }
  if (!std::isfinite(t.flatline_tolerance) || t.flatline_tolerance <= 0) {
    return ConfigError{"train.flatline_tolerance",
                       Cat("train.flatline_tolerance must be a finite number > 0 (got ", t.flatline_tolerance, ").")};
  }
  if (!std::isfinite(t.flatline_grad_norm) || t.flatline_grad_norm <= 0) {
    return ConfigError{"train.flatline_grad_norm",
                       Cat("train.flatline_grad_norm must be a finite number > 0 (got ", t.flatline_grad_norm, ").")};
  }
  return std::nullopt;
}

std::optional<ConfigError> Validate(const InitConfig& init) {
  if (FindInitScheme(init.scheme) == nullptr) {
    std::string known;
    for (const InitScheme& s : InitSchemes()) {
      known += known.empty() ? "" : ", ";
      known += s.name;
    }
    return ConfigError{"init.scheme", Cat("init.scheme must be one of ", known, " (got \"",
                                                  Shown(init.scheme), "\").")};
  }
  if (init.scheme != "uniform") return std::nullopt;  // the bounds are the uniform scheme's alone
  for (const auto& [field, value] : {std::pair{"init.uniform_low", init.uniform_low},
                                     std::pair{"init.uniform_high", init.uniform_high}}) {
    if (!std::isfinite(value) || std::abs(value) > kMaxUniformBound) {
      return ConfigError{field, Cat(field, " must be a finite number within ±", kMaxUniformBound,
                                    " (got ", value, ").")};
    }
  }
  if (init.uniform_low >= init.uniform_high) {
    return ConfigError{"init.uniform_low",
                       Cat("init.uniform_low must be below init.uniform_high (got ",
                           init.uniform_low, " and ", init.uniform_high, ").")};
  }
  return std::nullopt;
}

ExperimentConfig LabExperiment() { return ExperimentConfig{}; }

std::vector<InitConfig> LabRuns() {
  // Independent weight seeds, one per init; the data seed (DataConfig::seed) is shared.
  return {
      InitConfig{.scheme = "uniform", .weight_seed = 101},
      InitConfig{.scheme = "xavier", .weight_seed = 102},
      InitConfig{.scheme = "kaiming", .weight_seed = 103},
  };
}

}  // namespace ablate::core
