#include "client/spec_flags.h"

#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "client/rpc_errors.h"

namespace ablate::client {
namespace {

absl::Status FlagError(absl::string_view flag, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", what));
}

// Integers and numbers are parsed strictly here (absl::SimpleAtoi rejects "12abc" and "1.5");
// whether the value is in range is the server's call.
absl::StatusOr<int32_t> ParseInt32(absl::string_view flag, absl::string_view text) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return FlagError(flag, absl::StrCat("expected an integer, got '", text, "'"));
  }
  if (value < std::numeric_limits<int32_t>::min() || value > std::numeric_limits<int32_t>::max()) {
    return FlagError(flag, absl::StrCat("expected a 32-bit integer, got '", text, "'"));
  }
  return static_cast<int32_t>(value);
}

absl::StatusOr<uint64_t> ParseUint64(absl::string_view flag, absl::string_view text) {
  uint64_t value = 0;
  absl::string_view stripped = absl::StripAsciiWhitespace(text);
  if (stripped.empty() || stripped.front() == '-' || !absl::SimpleAtoi(stripped, &value)) {
    return FlagError(flag, absl::StrCat("expected a non-negative integer, got '", text, "'"));
  }
  return value;
}

absl::StatusOr<double> ParseDouble(absl::string_view flag, absl::string_view text) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) {
    return FlagError(flag, absl::StrCat("expected a number, got '", text, "'"));
  }
  return value;
}

// The numeric spec flags: where each one's text is, and how its parsed value enters the spec.
// Only a flag that was given touches the spec, so untouched sub-messages stay absent.
using OptionalText = std::optional<std::string> SpecFlags::*;

struct Int32Flag {
  absl::string_view flag;
  OptionalText text;
  void (*set)(v1::JobSpec*, int32_t);
};

struct DoubleFlag {
  absl::string_view flag;
  OptionalText text;
  void (*set)(v1::JobSpec*, double);
};

constexpr Int32Flag kInt32Flags[] = {
    {"--depth", &SpecFlags::depth,
     [](v1::JobSpec* s, int32_t v) { s->mutable_model()->set_depth(v); }},
    {"--width", &SpecFlags::width,
     [](v1::JobSpec* s, int32_t v) { s->mutable_model()->set_width(v); }},
    {"--input-dim", &SpecFlags::input_dim,
     [](v1::JobSpec* s, int32_t v) { s->mutable_model()->set_input_dim(v); }},
    {"--steps", &SpecFlags::steps,
     [](v1::JobSpec* s, int32_t v) { s->mutable_training()->set_steps(v); }},
    {"--batch", &SpecFlags::batch,
     [](v1::JobSpec* s, int32_t v) { s->mutable_training()->set_batch(v); }},
    {"--eval-every", &SpecFlags::eval_every,
     [](v1::JobSpec* s, int32_t v) { s->mutable_training()->set_eval_every(v); }},
    {"--train-size", &SpecFlags::train_size,
     [](v1::JobSpec* s, int32_t v) { s->mutable_data()->set_train_size(v); }},
    {"--val-size", &SpecFlags::val_size,
     [](v1::JobSpec* s, int32_t v) { s->mutable_data()->set_val_size(v); }},
    {"--label-dims", &SpecFlags::label_dims,
     [](v1::JobSpec* s, int32_t v) { s->mutable_data()->set_label_dims(v); }},
    {"--seeds", &SpecFlags::seeds, [](v1::JobSpec* s, int32_t v) { s->set_seeds(v); }},
};

constexpr DoubleFlag kDoubleFlags[] = {
    {"--lr", &SpecFlags::lr, [](v1::JobSpec* s, double v) { s->mutable_training()->set_lr(v); }},
    {"--momentum", &SpecFlags::momentum,
     [](v1::JobSpec* s, double v) { s->mutable_training()->set_momentum(v); }},
};

}  // namespace

absl::StatusOr<v1::RunSpec> ParseInitFlag(absl::string_view value) {
  const std::string flag = absl::StrCat("--init ", value);
  constexpr absl::string_view kKeys = "(keys: seed, low, high)";
  v1::RunSpec run;
  const size_t colon = value.find(':');
  const absl::string_view name = absl::StripAsciiWhitespace(value.substr(0, colon));
  if (name.empty()) {
    return FlagError(flag,
                     "expected an init name such as kaiming, optionally followed by "
                     ":key=value,... (e.g. kaiming:seed=7)");
  }
  run.set_init(std::string(name));
  if (colon == absl::string_view::npos) return run;

  const absl::string_view params = value.substr(colon + 1);
  if (absl::StripAsciiWhitespace(params).empty()) {
    return FlagError(flag, absl::StrCat("expected key=value after ':' ", kKeys));
  }
  bool seen_seed = false, seen_low = false, seen_high = false;
  for (absl::string_view item : absl::StrSplit(params, ',')) {
    item = absl::StripAsciiWhitespace(item);
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos) {
      return FlagError(flag,
                       absl::StrCat("expected key=value after ':' ", kKeys, ", got '", item, "'"));
    }
    const absl::string_view key = absl::StripAsciiWhitespace(item.substr(0, eq));
    const absl::string_view text = absl::StripAsciiWhitespace(item.substr(eq + 1));
    bool* seen = key == "seed"   ? &seen_seed
                 : key == "low"  ? &seen_low
                 : key == "high" ? &seen_high
                                 : nullptr;
    if (seen == nullptr) {
      return FlagError(flag, absl::StrCat("unknown key '", key, "' ", kKeys));
    }
    if (*seen) return FlagError(flag, absl::StrCat(key, " is given twice"));
    *seen = true;
    if (key == "seed") {
      uint64_t seed = 0;
      if (text.empty() || text.front() == '-' || !absl::SimpleAtoi(text, &seed)) {
        return FlagError(flag,
                         absl::StrCat("seed must be a non-negative integer, got '", text, "'"));
      }
      run.set_weight_seed(seed);
    } else {
      double bound = 0;
      if (!absl::SimpleAtod(text, &bound)) {
        return FlagError(flag, absl::StrCat(key, " must be a number, got '", text, "'"));
      }
      if (key == "low") {
        run.set_uniform_low(bound);
      } else {
        run.set_uniform_high(bound);
      }
    }
  }
  return run;
}

absl::Status ApplySpecFlags(const SpecFlags& flags, v1::JobSpec* spec) {
  if (flags.name) spec->set_name(*flags.name);
  for (const Int32Flag& f : kInt32Flags) {
    const std::optional<std::string>& text = flags.*f.text;
    if (!text) continue;
    absl::StatusOr<int32_t> value = ParseInt32(f.flag, *text);
    if (!value.ok()) return value.status();
    f.set(spec, *value);
  }
  for (const DoubleFlag& f : kDoubleFlags) {
    const std::optional<std::string>& text = flags.*f.text;
    if (!text) continue;
    absl::StatusOr<double> value = ParseDouble(f.flag, *text);
    if (!value.ok()) return value.status();
    f.set(spec, *value);
  }
  if (flags.data_seed) {
    absl::StatusOr<uint64_t> seed = ParseUint64("--data-seed", *flags.data_seed);
    if (!seed.ok()) return seed.status();
    spec->mutable_data()->set_seed(*seed);
  }
  if (flags.continue_after_nonfinite) spec->mutable_training()->set_stop_on_nonfinite(false);
  if (flags.vary_data_seed) spec->set_vary_data_seed(true);

  if (!flags.inits.empty()) {
    spec->clear_runs();
    for (const std::string& init : flags.inits) {
      absl::StatusOr<v1::RunSpec> run = ParseInitFlag(init);
      if (!run.ok()) return run.status();
      *spec->add_runs() = *std::move(run);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::JobSpec> ParseJobSpecJson(absl::string_view json, absl::string_view source) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const google::protobuf::StringPiece text(json.data(), json.size());
  v1::JobSpec spec;
  const auto status = google::protobuf::util::JsonStringToMessage(text, &spec, options);
  if (status.ok()) return spec;
  // A whole Job (`ablate show --json`, a downloaded job.json) reruns through its spec.
  v1::Job job;
  if (google::protobuf::util::JsonStringToMessage(text, &job, options).ok() && job.has_spec()) {
    return job.spec();
  }
  // The parser appends the offending line and a caret on lines of their own; the first line
  // says what is wrong.
  const std::string message(status.message());
  std::string problem = OneLine(message.substr(0, message.find('\n')));
  if (problem.empty()) problem = "it does not parse";
  return absl::InvalidArgumentError(absl::StrCat(source, " is not a valid job spec: ", problem));
}

absl::StatusOr<v1::JobSpec> ReadJobSpecFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the spec file ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read the spec file ", path));
  }
  return ParseJobSpecJson(text.str(), path);
}

}  // namespace ablate::client
