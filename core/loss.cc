#include "core/loss.h"

#include <cmath>

namespace ablate::core {

// logits: (C, B). Per column: loss = logsumexp(l) − l[y], with the max subtracted first so exp
// never overflows on finite logits; dlogits = (softmax(l) − onehot(y)) / B.
float SoftmaxCrossEntropy(const Matrix& logits, std::span<const int32_t> labels,
                          Matrix* dlogits) {
  const Eigen::Index batch = logits.cols();
  const float inv_batch = 1.0f / static_cast<float>(batch);
  double total = 0;
  for (Eigen::Index b = 0; b < batch; ++b) {
    const auto column = logits.col(b);
    const float max = column.maxCoeff();
    const float sum_exp = (column.array() - max).exp().sum();
    const float log_sum_exp = max + std::log(sum_exp);
    total += log_sum_exp - column(labels[b]);
    if (dlogits != nullptr) {
      auto grad = dlogits->col(b);
      grad = ((column.array() - log_sum_exp).exp() * inv_batch).matrix();
      grad(labels[b]) -= inv_batch;
    }
  }
  return static_cast<float>(total / static_cast<double>(batch));
}

float Accuracy(const Matrix& logits, std::span<const int32_t> labels) {
  int correct = 0;
  for (Eigen::Index b = 0; b < logits.cols(); ++b) {
    // A column with a NaN has no prediction: it counts as wrong, not as class 0.
    if (logits.col(b).hasNaN()) continue;
    Eigen::Index predicted = 0;
    logits.col(b).maxCoeff(&predicted);
    correct += predicted == labels[b];
  }
  return static_cast<float>(correct) / static_cast<float>(logits.cols());
}

}  // namespace ablate::core
