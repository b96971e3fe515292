// Tests of core/data.h: the label rule on every example, the data set's shape and
// distribution, and the batch sequence: shared by one data seed, a permutation per epoch.
#include "core/data.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <vector>

namespace ablate::core {
namespace {

// Sum of the first `label_dims` inputs of column `c`, in double as the rule is stated.
double LabelSum(const Matrix& x, Eigen::Index c, int label_dims) {
  double sum = 0;
  for (int r = 0; r < label_dims; ++r) sum += x(r, c);
  return sum;
}

void ExpectLabelRule(const Matrix& x, const std::vector<int32_t>& y, int label_dims) {
  ASSERT_EQ(static_cast<size_t>(x.cols()), y.size());
  for (Eigen::Index c = 0; c < x.cols(); ++c) {
    const int32_t expected = LabelSum(x, c, label_dims) >= 0 ? 1 : 0;
    ASSERT_EQ(y[c], expected) << "example " << c;
  }
}

TEST(MakeLabDatasetTest, HasTheConfiguredShape) {
  const DataConfig data{.train_size = 300, .val_size = 70, .label_dims = 3, .seed = 4};
  const Dataset set = MakeLabDataset(data, 12);
  EXPECT_EQ(set.train_x.rows(), 12);
  EXPECT_EQ(set.train_x.cols(), 300);
  EXPECT_EQ(set.train_y.size(), 300u);
  EXPECT_EQ(set.val_x.rows(), 12);
  EXPECT_EQ(set.val_x.cols(), 70);
  EXPECT_EQ(set.val_y.size(), 70u);
}

TEST(MakeLabDatasetTest, EveryLabelFollowsTheRuleOnTheLabData) {
  // Lab 1: label 1 iff the sum of the first 10 of 256 inputs is >= 0, on train and val.
  const ExperimentConfig lab = LabExperiment();
  const Dataset set = MakeLabDataset(lab.data, lab.model.input_dim);
  ExpectLabelRule(set.train_x, set.train_y, lab.data.label_dims);
  ExpectLabelRule(set.val_x, set.val_y, lab.data.label_dims);
  // The label depends on the first 10 inputs only: the rule with all 256 disagrees often.
  int disagreements = 0;
  for (Eigen::Index c = 0; c < set.train_x.cols(); ++c) {
    disagreements += (LabelSum(set.train_x, c, 256) >= 0 ? 1 : 0) != set.train_y[c];
  }
  EXPECT_GT(disagreements, 200);
}

TEST(MakeLabDatasetTest, EveryLabelFollowsTheRuleForOtherLabelDims) {
  for (int label_dims : {1, 4, 16}) {
    SCOPED_TRACE(label_dims);
    const Dataset set = MakeLabDataset(
        DataConfig{.train_size = 500, .val_size = 100, .label_dims = label_dims, .seed = 9}, 16);
    ExpectLabelRule(set.train_x, set.train_y, label_dims);
    ExpectLabelRule(set.val_x, set.val_y, label_dims);
  }
}

TEST(MakeLabDatasetTest, InputsAreStandardNormalAndClassesBalanced) {
  const ExperimentConfig lab = LabExperiment();
  const Dataset set = MakeLabDataset(lab.data, lab.model.input_dim);
  const Eigen::ArrayXXd x = set.train_x.cast<double>().array();
  const double mean = x.mean();
  const double variance = (x - mean).square().mean();
  // 256 000 draws: standard errors 0.002 (mean) and 0.003 (variance).
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(variance, 1.0, 0.015);
  int ones = 0;
  for (int32_t label : set.train_y) {
    ASSERT_TRUE(label == 0 || label == 1);
    ones += label;
  }
  EXPECT_GT(ones, 400);  // ~500 ± 16
  EXPECT_LT(ones, 600);
}

TEST(MakeLabDatasetTest, OneSeedOneDataSet) {
  const DataConfig data{.train_size = 100, .val_size = 20, .label_dims = 5, .seed = 77};
  const Dataset a = MakeLabDataset(data, 8);
  const Dataset b = MakeLabDataset(data, 8);
  EXPECT_TRUE(a.train_x == b.train_x);
  EXPECT_EQ(a.train_y, b.train_y);
  EXPECT_TRUE(a.val_x == b.val_x);
  EXPECT_EQ(a.val_y, b.val_y);

  DataConfig other = data;
  other.seed = 78;
  const Dataset c = MakeLabDataset(other, 8);
  EXPECT_FALSE(a.train_x == c.train_x);
  EXPECT_FALSE(a.val_x == c.val_x);
}

TEST(MakeLabDatasetTest, ValidationExamplesAreNotTrainingExamples) {
  const Dataset set =
      MakeLabDataset(DataConfig{.train_size = 200, .val_size = 50, .label_dims = 2, .seed = 1}, 4);
  std::set<float> train_first;
  for (Eigen::Index c = 0; c < set.train_x.cols(); ++c) train_first.insert(set.train_x(0, c));
  for (Eigen::Index c = 0; c < set.val_x.cols(); ++c) {
    EXPECT_FALSE(train_first.contains(set.val_x(0, c))) << "val example " << c;
  }
}

// Identifies each training example by the bits of its column, to recover which examples a
// batch holds.
class BatchSamplerTest : public testing::Test {
 protected:
  void SetUpData(int train_size) {
    set_ = MakeLabDataset(
        DataConfig{.train_size = train_size, .val_size = 10, .label_dims = 3, .seed = 5},
        kInputDim);
    index_of_.clear();
    for (int c = 0; c < train_size; ++c) index_of_[Key(set_.train_x.col(c))] = c;
    ASSERT_EQ(index_of_.size(), static_cast<size_t>(train_size)) << "examples must be distinct";
  }

  static std::vector<uint32_t> Key(const Eigen::Ref<const Vector>& column) {
    std::vector<uint32_t> key(column.size());
    std::memcpy(key.data(), column.data(), column.size() * sizeof(float));
    return key;
  }

  // Draws `count` batches and returns the example indices, in order.
  std::vector<int> Draw(BatchSampler& sampler, int batch, int count) {
    Matrix x(kInputDim, batch);
    std::vector<int32_t> y(batch);
    std::vector<int> indices;
    for (int i = 0; i < count; ++i) {
      sampler.Next(x, y);
      for (int k = 0; k < batch; ++k) {
        const auto it = index_of_.find(Key(x.col(k)));
        EXPECT_NE(it, index_of_.end()) << "batch " << i << " column " << k << " is no example";
        if (it == index_of_.end()) return indices;
        EXPECT_EQ(y[k], set_.train_y[it->second]) << "label travels with its example";
        indices.push_back(it->second);
      }
    }
    return indices;
  }

  static constexpr int kInputDim = 6;
  Dataset set_;
  std::map<std::vector<uint32_t>, int> index_of_;
};

TEST_F(BatchSamplerTest, OneDataSeedGivesOneBatchSequence) {
  SetUpData(1000);
  BatchSampler a(set_, 64, /*seed=*/1);
  BatchSampler b(set_, 64, /*seed=*/1);
  // Three epochs and a bit, across the epoch boundaries.
  EXPECT_EQ(Draw(a, 64, 50), Draw(b, 64, 50));
}

TEST_F(BatchSamplerTest, AnotherSeedGivesAnotherSequence) {
  SetUpData(1000);
  BatchSampler a(set_, 64, /*seed=*/1);
  BatchSampler b(set_, 64, /*seed=*/2);
  const std::vector<int> first = Draw(a, 64, 15);
  const std::vector<int> second = Draw(b, 64, 15);
  int same_position = 0;
  for (size_t i = 0; i < first.size(); ++i) same_position += first[i] == second[i];
  EXPECT_LT(same_position, 20);  // ~1 expected by chance
}

TEST_F(BatchSamplerTest, EachEpochIsAPermutationWithThePartialSliceDropped) {
  // 1000 examples in batches of 64: 15 batches (960 examples) per epoch, 40 left out.
  SetUpData(1000);
  BatchSampler sampler(set_, 64, /*seed=*/3);
  std::vector<std::vector<int>> epochs;
  for (int epoch = 0; epoch < 3; ++epoch) {
    const std::vector<int> drawn = Draw(sampler, 64, 15);
    ASSERT_EQ(drawn.size(), 960u);
    const std::set<int> distinct(drawn.begin(), drawn.end());
    EXPECT_EQ(distinct.size(), 960u) << "epoch " << epoch << " repeats an example";
    EXPECT_GE(*distinct.begin(), 0);
    EXPECT_LT(*distinct.rbegin(), 1000);
    epochs.push_back(drawn);
  }
  // Each epoch draws a fresh permutation.
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  // Not the identity order either.
  std::vector<int> sorted = epochs[0];
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(sorted, epochs[0]);
}

TEST_F(BatchSamplerTest, DivisibleSizeCoversEveryExampleEachEpoch) {
  SetUpData(100);
  BatchSampler sampler(set_, 10, /*seed=*/4);
  for (int epoch = 0; epoch < 3; ++epoch) {
    const std::vector<int> drawn = Draw(sampler, 10, 10);
    const std::set<int> distinct(drawn.begin(), drawn.end());
    EXPECT_EQ(distinct.size(), 100u) << "epoch " << epoch;
  }
}

TEST_F(BatchSamplerTest, FullBatchSeesEveryExampleEveryStep) {
  SetUpData(40);
  BatchSampler sampler(set_, 40, /*seed=*/5);
  for (int step = 0; step < 3; ++step) {
    const std::vector<int> drawn = Draw(sampler, 40, 1);
    EXPECT_EQ(std::set<int>(drawn.begin(), drawn.end()).size(), 40u) << "step " << step;
  }
}

// The shuffle must draw every order with equal probability (Fisher–Yates), each epoch afresh.
// A classic slip, Sattolo's variant (j drawn from [0, i) instead of [0, i]), draws only the
// (n−1)! orders that are one n-cycle away from the last: no example ever keeps its place and,
// for n = 4, only 6 of the 24 relative orders (and, from the identity, only even ones) appear.
// With 4 examples and batches of 4, every step is one epoch, so each batch is one draw.
TEST_F(BatchSamplerTest, EveryOrderOfASmallSetIsEquallyLikely) {
  constexpr int kN = 4, kEpochs = 24000;
  SetUpData(kN);
  BatchSampler sampler(set_, kN, /*seed=*/6);
  // A permutation of 0..3 as a base-4 number, to count them.
  auto code = [](const std::vector<int>& p) { return ((p[0] * 4 + p[1]) * 4 + p[2]) * 4 + p[3]; };
  std::map<int, int> orders, shuffles;   // the epoch's order; the shuffle from the last order
  int kept_in_place = 0;                 // examples the shuffle left where they were
  std::vector<int> last = {0, 1, 2, 3};  // the sampler starts from the identity
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    const std::vector<int> order = Draw(sampler, kN, 1);
    ASSERT_EQ(std::set<int>(order.begin(), order.end()).size(), 4u) << "epoch " << epoch;
    // shuffle[k] = where the example now at position k was before.
    std::vector<int> shuffle(kN);
    for (int k = 0; k < kN; ++k) {
      shuffle[k] = static_cast<int>(std::find(last.begin(), last.end(), order[k]) - last.begin());
      kept_in_place += shuffle[k] == k;
    }
    ++orders[code(order)];
    ++shuffles[code(shuffle)];
    last = order;
  }
  // Each of the 24 orders (and shuffles) ~1000 times. Pearson's chi-square with 23 degrees of
  // freedom exceeds 66 with probability 1e-6; Sattolo's variant scores over 20000.
  auto chi_square = [&](const std::map<int, int>& counts) {
    const double expected = kEpochs / 24.0;
    double chi2 = (24 - static_cast<double>(counts.size())) * expected;  // orders never drawn
    for (const auto& [order, count] : counts)
      chi2 += (count - expected) * (count - expected) / expected;
    return chi2;
  };
  EXPECT_EQ(orders.size(), 24u);
  EXPECT_EQ(shuffles.size(), 24u);
  EXPECT_LT(chi_square(orders), 66.0);
  EXPECT_LT(chi_square(shuffles), 66.0);
  // A uniform shuffle leaves one example in place on average (variance 1): 24000 ± 155.
  EXPECT_NEAR(kept_in_place, kEpochs, 800);
}

}  // namespace
}  // namespace ablate::core
