// The job spec between the API and the core: defaults, validation, conversion.
#ifndef ABLATE_SERVER_JOBS_SPEC_H_
#define ABLATE_SERVER_JOBS_SPEC_H_

#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "core/config.h"

namespace ablate::jobs {

inline constexpr int kMaxRuns = 16;
// Validations per run, steps / eval_every: every one is in the job's losses.json and figures,
// which a class downloads. (16 runs of 100,000 steps validated at every step made a 178 MB
// losses.json and took the server's memory past 1.5 GB to write it.)
inline constexpr int kMaxEvaluations = 20000;
inline constexpr int kMaxNameLength = 200;
inline constexpr int kMaxOwnerLength = 64;
inline constexpr char kDefaultJobName[] = "lab-01-init-ablation";
inline constexpr char kDefaultOwner[] = "anonymous";
// A run's default weight seed is kFirstWeightSeed + its index: lab 1's three runs get the
// seeds core::LabRuns() gives them.
inline constexpr uint64_t kFirstWeightSeed = 101;

// Fills every unset field with lab 1's value (an empty spec is lab 1), then validates it. An
// unnamed job is named by what it changes (JobNameFromDifferences).
// InvalidArgument names the first bad field and its allowed range, e.g.
// "runs[1].init must be one of uniform, xavier, ... (got "foo")."
absl::StatusOr<v1::JobSpec> ResolveSpec(const v1::JobSpec& spec);

// Validates an owner name: 1–64 bytes of UTF-8 without control characters (text.h), as the
// spec's name (1–200 bytes). Empty means kDefaultOwner.
absl::StatusOr<std::string> ResolveOwner(const std::string& owner);

// One setting of a resolved spec as people name it: {"lr", "0.0001"}.
struct Setting {
  std::string name;
  std::string value;
  bool operator==(const Setting&) const = default;
};

// The job-level settings of a resolved spec that shape its runs' training (model, data sizes,
// training loop), in a fixed order, values in the shortest text that reads back the same.
// Not among them: the name and the data seed (a seed is a draw, not a different experiment).
std::vector<Setting> TrainingSettings(const v1::JobSpec& resolved);

// "U[-0.5, 0.5]": a uniform run's bounds.
std::string UniformBounds(const v1::RunSpec& resolved);

// What run `run_index` of a resolved spec is, for people: its init (uniform with its bounds
// when they are not lab 1's), its weight seed, the data seed when not lab 1's, then every
// TrainingSetting that differs from lab 1's, joined by " · ": "kaiming · seed 7 · lr 0.0001".
// Requires 0 <= run_index < resolved.runs_size().
std::string RunLabel(const v1::JobSpec& resolved, int run_index);

// The name of an unnamed job, from a resolved spec: each TrainingSetting that differs from
// lab 1's, then the data seed when not lab 1's, joined by " · " ("depth 24 · lr 0.0001"), cut
// at kMaxNameLength bytes; kDefaultJobName when nothing differs. Inits and weight seeds are
// not in it: every run's label carries them.
std::string JobNameFromDifferences(const v1::JobSpec& resolved);

// Fills in Run.label of every run of `job` (whose spec is resolved).
void LabelRuns(v1::Job& job);

// Conversions of a resolved spec.
core::ExperimentConfig ToExperiment(const v1::JobSpec& resolved);
// What run `resolved` trains on: its job's configuration `job` (ToExperiment) with the run's
// own data seed, when it has one.
core::ExperimentConfig ToRunExperiment(core::ExperimentConfig job, const v1::RunSpec& resolved);
// A run's init: convert::ToInitConfig (server/convert/core_messages.h).

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_SPEC_H_
