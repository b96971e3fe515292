// Lab 1's synthetic data set and the batch sequence every run of a job shares.
#ifndef ABLATE_CORE_DATA_H_
#define ABLATE_CORE_DATA_H_

#include <cstdint>
#include <optional>
#include <stop_token>
#include <vector>

#include "core/config.h"
#include "core/random.h"
#include "core/tensor.h"

namespace ablate::core {

struct Dataset {
  Matrix train_x;                // input_dim × train_size
  std::vector<int32_t> train_y;  // train_size
  Matrix val_x;                  // input_dim × val_size
  std::vector<int32_t> val_y;    // val_size
};

// Standard Gaussian inputs of `input_dim` dims; label 1 when the sum of the first
// data.label_dims inputs is >= 0, else 0. Drawn from data.seed alone. Requires a validated
// config.
Dataset MakeLabDataset(const DataConfig& data, int input_dim);
// The same, checking `stop` between examples (a large set takes seconds): nothing when stopped.
std::optional<Dataset> MakeLabDataset(const DataConfig& data, int input_dim, std::stop_token stop);

// Cuts the training set into batches: each epoch a fresh permutation drawn from the data seed,
// then consecutive slices of `batch` examples; the last partial slice of an epoch is dropped so
// every step sees exactly `batch` examples. The same (data, batch, seed) gives the same
// sequence, whatever the model. Borrows `data`, which must outlive the sampler.
class BatchSampler {
 public:
  BatchSampler(const Dataset& data, int batch, uint64_t seed);
  // Copies the next batch into x (input_dim × batch) and y (batch), both preallocated.
  void Next(Matrix& x, std::vector<int32_t>& y);

  // Where the sequence stands: a sampler of the same data, batch and seed restored from it
  // gives the same batches from there on (checkpoints).
  struct State {
    Rng::State rng;
    std::vector<int32_t> order;  // this epoch's permutation of the training examples
    int next = 0;                // position in `order` of the next batch's first example
  };
  State GetState() const { return {rng_.GetState(), order_, next_}; }
  // False, changing nothing, unless `state` is a permutation of this sampler's examples with
  // `next` within it.
  bool SetState(const State& state);

 private:
  const Dataset& data_;
  Rng rng_;
  std::vector<int32_t> order_;
  int next_ = 0;
  int batch_;
};

}  // namespace ablate::core

#endif  // ABLATE_CORE_DATA_H_
