// Checkpoints: a run's whole state between two steps, encoded, so that any executor can
// continue a run after a crash or a lost worker instead of replaying it from step 0.
//
// A run's state is its weights and biases, the optimizer's momentum buffers, where the batch
// sequence stands (the sampler's permutation, position and generator), the flatline counter,
// the non-finite and flatline steps seen so far, the layer statistics taken at init, and the
// training seconds so far. The data set is not in it: it is regenerated from the data seed.
//
// A checkpoint continues its run bit for bit only on a build with the same fingerprint
// (core/fingerprint.h) and for the same configuration (RunDigest): both are in its header, for
// the caller to compare before it resumes.
//
// Format, little-endian: the 8 bytes "ABLATECK", a u32 format version, the header fields, the
// state, and last a CRC-32C (Castagnoli) of every byte before it. A checkpoint of lab 1's model
// is about 6.3 MB (weights and momentum, 790k parameters each, in float32).
#ifndef ABLATE_CORE_CHECKPOINT_H_
#define ABLATE_CORE_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/data.h"
#include "core/tensor.h"
#include "core/trainer.h"

namespace ablate::core {

// What a checkpoint says about itself.
struct CheckpointHeader {
  int step = 0;             // updates applied: the run continues with this step
  std::string fingerprint;  // the fingerprint id of the build that wrote it
  uint64_t run_digest = 0;  // RunDigest of the run it belongs to
};

// The state a checkpoint holds (see the top of this file).
struct TrainerSnapshot {
  CheckpointHeader header;
  double seconds = 0;  // training wall time before `step`
  int flat_steps = 0;
  std::optional<int> first_nonfinite_step;
  std::optional<int> flatline_step;
  BatchSampler::State sampler;
  std::vector<LayerStats> init_stats;
  std::vector<Matrix> weights;  // per layer
  std::vector<Vector> biases;
  std::vector<Matrix> weight_velocity;
  std::vector<Vector> bias_velocity;
};

// A digest of everything in `config` and `init`: equal for equal settings, so a checkpoint is
// never applied to another run. Not a security measure (FNV-1a, 64 bits).
uint64_t RunDigest(const ExperimentConfig& config, const InitConfig& init);

std::string EncodeCheckpoint(const TrainerSnapshot& snapshot);

// Decodes a whole checkpoint, or reads only its header (cheap: the checksum is still checked).
// Nothing when the bytes are not an intact checkpoint of this format; *error (if not null) then
// gets one sentence saying why.
std::optional<TrainerSnapshot> DecodeCheckpoint(std::string_view bytes, std::string* error);
std::optional<CheckpointHeader> ReadCheckpointHeader(std::string_view bytes, std::string* error);

// CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start).
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace ablate::core

#endif  // ABLATE_CORE_CHECKPOINT_H_
