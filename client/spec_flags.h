// Building a JobSpec from `ablate submit` flags and --spec files.
//
// The client checks only syntax (is it an integer, is `--init` well formed); the server checks
// every name and range and answers with one sentence naming the field. A flag that is not
// given leaves its field unset, so the server fills in lab 1's value.
#ifndef ABLATE_CLIENT_SPEC_FLAGS_H_
#define ABLATE_CLIENT_SPEC_FLAGS_H_

#include <optional>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ablate::client {

// The spec flags of `ablate submit` exactly as typed; nullopt when not given.
struct SpecFlags {
  std::optional<std::string> name;        // --name
  std::optional<std::string> depth;       // --depth
  std::optional<std::string> width;       // --width
  std::optional<std::string> input_dim;   // --input-dim
  std::optional<std::string> steps;       // --steps
  std::optional<std::string> lr;          // --lr
  std::optional<std::string> momentum;    // --momentum
  std::optional<std::string> batch;       // --batch
  std::optional<std::string> eval_every;  // --eval-every
  std::optional<std::string> train_size;  // --train-size
  std::optional<std::string> val_size;    // --val-size
  std::optional<std::string> label_dims;  // --label-dims
  std::optional<std::string> data_seed;   // --data-seed
  std::optional<std::string> seeds;       // --seeds
  bool continue_after_nonfinite = false;  // --continue-after-nonfinite
  bool vary_data_seed = false;            // --vary-data-seed
  std::vector<std::string> inits;         // --init, in the order given
};

// Parses one --init value: `NAME` or `NAME:key=value[,key=value...]` with keys `seed`
// (non-negative integer), `low` and `high` (numbers), e.g. "kaiming:seed=7" or
// "uniform:low=-1,high=1,seed=3". The name is passed through for the server to check.
// Errors (InvalidArgument) read "--init <value>: <what is wrong>".
absl::StatusOr<v1::RunSpec> ParseInitFlag(absl::string_view value);

// Writes every given flag into `spec`, overriding what is there (so flags win over a --spec
// file). Any --init replaces spec->runs with one run per --init, in order.
// Errors (InvalidArgument) read "<flag>: <what is wrong>"; `spec` may then be partly updated.
absl::Status ApplySpecFlags(const SpecFlags& flags, v1::JobSpec* spec);

// Parses a JobSpec in the protobuf JSON mapping (field names in snake_case or lowerCamelCase).
// A whole Job in that mapping (as `ablate show --json` prints it) is accepted too, and gives
// its spec, so a past job can be rerun from its JSON. Unknown fields are errors, so typos do
// not silently fall back to defaults. `source` names the input in the error:
// "<source> is not a valid job spec: <parse problem>".
absl::StatusOr<v1::JobSpec> ParseJobSpecJson(absl::string_view json, absl::string_view source);

// Reads and parses a --spec file. Errors name the file.
absl::StatusOr<v1::JobSpec> ReadJobSpecFile(const std::string& path);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_SPEC_FLAGS_H_
