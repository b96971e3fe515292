// Fuzzes spec validation: the input is read as a v1::JobSpec twice, as protobuf's binary form
// (what gRPC receives) and as JSON (what the HTTP gateway receives), and each spec that parses
// goes through jobs::ResolveSpec. Nothing may crash (ASan and UBSan watch), and a spec that
// ResolveSpec accepts must be one the trainer can be given: core::Validate passes for the
// experiment and every run, the conversions work, the name is clean text, and resolving it
// again changes nothing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ablate/v1/ablate.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "core/config.h"
#include "google/protobuf/util/json_util.h"
#include "server/convert/core_messages.h"
#include "server/jobs/spec.h"
#include "server/jobs/text.h"

namespace {

using namespace ablate;

void Check(bool ok, const char* what, const v1::JobSpec& spec) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\nspec: %s\n", what, spec.ShortDebugString().c_str());
  std::abort();
}

void Resolve(const v1::JobSpec& input) {
  absl::StatusOr<v1::JobSpec> resolved = jobs::ResolveSpec(input);
  if (!resolved.ok()) {
    Check(resolved.status().code() == absl::StatusCode::kInvalidArgument,
          "a refusal is INVALID_ARGUMENT", input);
    Check(!resolved.status().message().empty(), "a refusal says why", input);
    return;
  }
  const v1::JobSpec& spec = *resolved;
  Check(!core::Validate(jobs::ToExperiment(spec)).has_value(),
        "an accepted spec passes core::Validate", spec);
  Check(spec.runs_size() >= 1 && spec.runs_size() <= jobs::kMaxRuns, "1 to kMaxRuns runs", spec);
  for (const v1::RunSpec& run : spec.runs()) {
    Check(!core::Validate(ablate::convert::ToInitConfig(run)).has_value(),
          "every run passes core::Validate", spec);
  }
  Check(!spec.name().empty() && spec.name().size() <= jobs::kMaxNameLength &&
            jobs::NameTextProblem(spec.name()).empty(),
        "the name is 1-200 bytes of clean text", spec);
  absl::StatusOr<v1::JobSpec> again = jobs::ResolveSpec(spec);
  Check(again.ok() && again->SerializeAsString() == spec.SerializeAsString(),
        "resolving twice changes nothing", spec);
}

}  // namespace

// Protobuf logs every string that is not UTF-8 it parses; thousands a second would bury the
// fuzzer's own output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::JobSpec spec;
  if (spec.ParseFromArray(data, static_cast<int>(size))) Resolve(spec);

  spec.Clear();
  const std::string json(reinterpret_cast<const char*>(data), size);
  if (google::protobuf::util::JsonStringToMessage(json, &spec).ok()) Resolve(spec);
  return 0;
}
