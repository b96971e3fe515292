#include "core/data.h"

#include <numeric>
#include <utility>

namespace ablate::core {

namespace {

// One data seed feeds two independent PCG streams: the examples, and the shuffle.
constexpr uint64_t kExampleStream = 1;
constexpr uint64_t kShuffleStream = 2;

// Returns false when stopped before the last example.
bool FillExamples(Matrix& x, std::vector<int32_t>& y, int label_dims, Rng& rng,
                  const std::stop_token& stop) {
  for (Eigen::Index c = 0; c < x.cols(); ++c) {
    if (stop.stop_requested()) return false;
    double sum = 0;
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
      x(r, c) = rng.Normal();
      if (r < label_dims) sum += x(r, c);
    }
    y[c] = sum >= 0 ? 1 : 0;
  }
  return true;
}

}  // namespace

std::optional<Dataset> MakeLabDataset(const DataConfig& data, int input_dim, std::stop_token stop) {
  Dataset set{Matrix(input_dim, data.train_size), std::vector<int32_t>(data.train_size),
              Matrix(input_dim, data.val_size), std::vector<int32_t>(data.val_size)};
  Rng rng(data.seed, kExampleStream);
  if (!FillExamples(set.train_x, set.train_y, data.label_dims, rng, stop) ||
      !FillExamples(set.val_x, set.val_y, data.label_dims, rng, stop)) {
    return std::nullopt;
  }
  return set;
}

Dataset MakeLabDataset(const DataConfig& data, int input_dim) {
  return *MakeLabDataset(data, input_dim, std::stop_token());
}

BatchSampler::BatchSampler(const Dataset& data, int batch, uint64_t seed)
    : data_(data),
      rng_(seed, kShuffleStream),
      order_(data.train_y.size()),
      next_(static_cast<int>(data.train_y.size())),  // the first Next() starts an epoch
      batch_(batch) {
  std::iota(order_.begin(), order_.end(), 0);
}

void BatchSampler::Next(Matrix& x, std::vector<int32_t>& y) {
  const int n = static_cast<int>(order_.size());
  if (next_ + batch_ > n) {
    // Fisher–Yates with the portable bounded draw.
    for (int i = n - 1; i > 0; --i) std::swap(order_[i], order_[rng_.Below(i + 1)]);
    next_ = 0;
  }
  for (int k = 0; k < batch_; ++k) {
    const int example = order_[next_ + k];
    x.col(k) = data_.train_x.col(example);
    y[k] = data_.train_y[example];
  }
  next_ += batch_;
}

bool BatchSampler::SetState(const State& state) {
  const int n = static_cast<int>(order_.size());
  if (static_cast<int>(state.order.size()) != n || state.next < 0 || state.next > n) return false;
  std::vector<bool> seen(n, false);
  for (int32_t example : state.order) {
    if (example < 0 || example >= n || seen[example]) return false;
    seen[example] = true;
  }
  rng_.SetState(state.rng);
  order_ = state.order;
  next_ = state.next;
  return true;
}

}  // namespace ablate::core
