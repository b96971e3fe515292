// The job spec between the API and the core: defaults, validation, conversion.
#ifndef ABLATE_SERVER_JOBS_SPEC_H_
#define ABLATE_SERVER_JOBS_SPEC_H_

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "core/config.h"

namespace ablate::jobs {

inline constexpr int kMaxRuns = 16;
inline constexpr int kMaxNameLength = 200;
inline constexpr int kMaxOwnerLength = 64;
inline constexpr char kDefaultJobName[] = "lab-01-init-ablation";
inline constexpr char kDefaultOwner[] = "anonymous";
// A run's default weight seed is kFirstWeightSeed + its index: lab 1's three runs get the
// seeds core::LabRuns() gives them.
inline constexpr uint64_t kFirstWeightSeed = 101;

// Fills every unset field with lab 1's value (an empty spec is lab 1), then validates it.
// InvalidArgument names the first bad field and its allowed range, e.g.
// "runs[1].init must be one of uniform, xavier, ... (got "foo")."
absl::StatusOr<v1::JobSpec> ResolveSpec(const v1::JobSpec& spec);

// Validates an owner name: 1–64 bytes of UTF-8 without control characters (text.h), as the
// spec's name (1–200 bytes). Empty means kDefaultOwner.
absl::StatusOr<std::string> ResolveOwner(const std::string& owner);

// Conversions of a resolved spec.
core::ExperimentConfig ToExperiment(const v1::JobSpec& resolved);
core::InitConfig ToInit(const v1::RunSpec& resolved);

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_SPEC_H_
