// Softmax cross-entropy, fused: the forward uses a stable log-sum-exp and the backward is
// (P − Y) / B, with no separate softmax layer in between.
#ifndef ABLATE_CORE_LOSS_H_
#define ABLATE_CORE_LOSS_H_

#include <cstdint>
#include <span>

#include "core/tensor.h"

namespace ablate::core {

// Mean cross-entropy of logits (C × B) against labels (B values in [0, C)). When dlogits is not
// null it receives dL/dlogits = (softmax(logits) − onehot(labels)) / B (C × B, preallocated).
// Non-finite logits give a non-finite loss.
float SoftmaxCrossEntropy(const Matrix& logits, std::span<const int32_t> labels,
                          Matrix* dlogits);

// Fraction of columns whose largest logit is the label's; a column holding a NaN counts as
// wrong.
float Accuracy(const Matrix& logits, std::span<const int32_t> labels);

}  // namespace ablate::core

#endif  // ABLATE_CORE_LOSS_H_
