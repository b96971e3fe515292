// Tests of core/config.h: lab 1's defaults, and that every out-of-range field is refused with a
// ConfigError that names the field and states the allowed range.
#include "core/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <string>

namespace ablate::core {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ConfigTest, LabDefaultsAreTheLabsSetup) {
  // shared/lab/lab-01-init-ablation.txt: 12-layer MLP, hidden 256, 1000 steps, SGD momentum 0.9,
  // LR 1e-3, batch 64; 1000 train / 200 val examples of 256-dim Gaussians; label from the
  // first 10 inputs.
  const ExperimentConfig lab = LabExperiment();
  EXPECT_EQ(lab.model.depth, 12);
  EXPECT_EQ(lab.model.width, 256);
  EXPECT_EQ(lab.model.input_dim, 256);
  EXPECT_EQ(lab.model.classes, 2);
  EXPECT_EQ(lab.data.train_size, 1000);
  EXPECT_EQ(lab.data.val_size, 200);
  EXPECT_EQ(lab.data.label_dims, 10);
  EXPECT_EQ(lab.train.steps, 1000);
  EXPECT_EQ(lab.train.batch, 64);
  EXPECT_DOUBLE_EQ(lab.train.lr, 1e-3);
  EXPECT_DOUBLE_EQ(lab.train.momentum, 0.9);
  EXPECT_FALSE(Validate(lab).has_value());
}

TEST(ConfigTest, LabRunsAreUniformXavierKaimingWithIndependentSeeds) {
  const std::vector<InitConfig> runs = LabRuns();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].scheme, "uniform");
  EXPECT_EQ(runs[1].scheme, "xavier");
  EXPECT_EQ(runs[2].scheme, "kaiming");
  EXPECT_DOUBLE_EQ(runs[0].uniform_low, -0.5);
  EXPECT_DOUBLE_EQ(runs[0].uniform_high, 0.5);
  std::set<uint64_t> seeds;
  for (const InitConfig& run : runs) {
    EXPECT_FALSE(Validate(run).has_value()) << run.scheme;
    seeds.insert(run.weight_seed);
  }
  EXPECT_EQ(seeds.size(), runs.size()) << "each init needs its own weight seed";
}

TEST(ConfigTest, BoundaryValuesAreAccepted) {
  ExperimentConfig config = LabExperiment();
  config.model.depth = 1;
  config.train.batch = config.data.train_size;  // batch == train size is allowed
  config.train.momentum = 0.0;
  config.train.lr = kMaxLr;
  config.data.label_dims = config.model.input_dim;
  config.train.steps = 1;
  EXPECT_FALSE(Validate(config).has_value());
  config.model.depth = kMaxDepth;
  EXPECT_FALSE(Validate(config).has_value());
  config.model.depth = 2;
  config.model.width = kMaxWidth;
  EXPECT_FALSE(Validate(config).has_value());
}

TEST(ConfigTest, ModelsTooBigForMemoryAreRefused) {
  ExperimentConfig config = LabExperiment();
  config.model.depth = kMaxDepth;
  config.model.width = kMaxWidth;  // about 1.06 billion parameters
  const std::optional<ConfigError> error = Validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->field, "model.width");
  EXPECT_NE(error->message.find("at most 100000000"), std::string::npos) << error->message;
}

// A refusal names the field (in `field` and in its one-sentence message) and what is allowed.
void ExpectRefused(const std::optional<ConfigError>& error, const std::string& name,
                   const std::string& field, const std::string& allowed) {
  ASSERT_TRUE(error.has_value()) << name << " was accepted";
  EXPECT_EQ(error->field, field);
  EXPECT_NE(error->message.find(field), std::string::npos) << error->message;
  EXPECT_NE(error->message.find(allowed), std::string::npos) << error->message;
  EXPECT_EQ(error->message.back(), '.') << "one sentence: " << error->message;
}

struct BadExperimentCase {
  std::string name;
  std::function<void(ExperimentConfig&)> mutate;
  std::string field;
  std::string allowed;  // the allowed range, as the message must state it
};

void PrintTo(const BadExperimentCase& c, std::ostream* os) { *os << c.name; }

class BadExperimentTest : public testing::TestWithParam<BadExperimentCase> {};

TEST_P(BadExperimentTest, IsRefusedWithFieldAndAllowedRange) {
  const BadExperimentCase& c = GetParam();
  ExperimentConfig config = LabExperiment();
  c.mutate(config);
  const std::optional<ConfigError> error = Validate(config);
  ExpectRefused(error, c.name, c.field, c.allowed);
}

INSTANTIATE_TEST_SUITE_P(
    ConfigTest, BadExperimentTest,
    testing::Values(
        BadExperimentCase{"DepthZero", [](auto& c) { c.model.depth = 0; }, "model.depth",
                          "between 1 and 64"},
        BadExperimentCase{"DepthNegative", [](auto& c) { c.model.depth = -3; }, "model.depth",
                          "between 1 and 64"},
        BadExperimentCase{"DepthTooLarge", [](auto& c) { c.model.depth = kMaxDepth + 1; },
                          "model.depth", "between 1 and 64"},
        BadExperimentCase{"WidthZero", [](auto& c) { c.model.width = 0; }, "model.width",
                          "between 1 and 4096"},
        BadExperimentCase{"WidthTooLarge", [](auto& c) { c.model.width = kMaxWidth + 1; },
                          "model.width", "between 1 and 4096"},
        BadExperimentCase{"InputDimZero", [](auto& c) { c.model.input_dim = 0; }, "model.input_dim",
                          "between 1 and 4096"},
        BadExperimentCase{"ClassesOne", [](auto& c) { c.model.classes = 1; }, "model.classes",
                          "must be 2"},
        BadExperimentCase{"ClassesThree", [](auto& c) { c.model.classes = 3; }, "model.classes",
                          "must be 2"},
        BadExperimentCase{"TrainSizeZero", [](auto& c) { c.data.train_size = 0; },
                          "data.train_size", "between 1 and 100000"},
        BadExperimentCase{"TrainSizeTooLarge",
                          [](auto& c) { c.data.train_size = kMaxExamples + 1; }, "data.train_size",
                          "between 1 and 100000"},
        BadExperimentCase{"ValSizeZero", [](auto& c) { c.data.val_size = 0; }, "data.val_size",
                          "between 1 and 100000"},
        BadExperimentCase{"LabelDimsZero", [](auto& c) { c.data.label_dims = 0; },
                          "data.label_dims", "between 1 and 256"},
        BadExperimentCase{"LabelDimsAboveInputDim",
                          [](auto& c) {
                            c.model.input_dim = 8;
                            c.data.label_dims = 9;
                          },
                          "data.label_dims", "between 1 and 8"},
        BadExperimentCase{"StepsZero", [](auto& c) { c.train.steps = 0; }, "train.steps",
                          "between 1 and 100000"},
        BadExperimentCase{"StepsTooMany", [](auto& c) { c.train.steps = kMaxSteps + 1; },
                          "train.steps", "between 1 and 100000"},
        BadExperimentCase{"BatchZero", [](auto& c) { c.train.batch = 0; }, "train.batch",
                          "between 1 and 1000"},
        BadExperimentCase{"BatchAboveTrainSize",
                          [](auto& c) {
                            c.data.train_size = 50;
                            c.train.batch = 64;
                          },
                          "train.batch", "between 1 and 50"},
        BadExperimentCase{"EvalEveryZero", [](auto& c) { c.train.eval_every = 0; },
                          "train.eval_every", "between 1 and 100000"},
        BadExperimentCase{"FlatlineWindowZero", [](auto& c) { c.train.flatline_window = 0; },
                          "train.flatline_window", "between 1 and 100000"},
        BadExperimentCase{"LrZero", [](auto& c) { c.train.lr = 0; }, "train.lr", "(0, 10]"},
        BadExperimentCase{"LrNegative", [](auto& c) { c.train.lr = -1e-3; }, "train.lr", "(0, 10]"},
        BadExperimentCase{"LrNaN", [](auto& c) { c.train.lr = kNaN; }, "train.lr", "(0, 10]"},
        BadExperimentCase{"LrInfinite", [](auto& c) { c.train.lr = kInf; }, "train.lr", "(0, 10]"},
        BadExperimentCase{"LrTooLarge", [](auto& c) { c.train.lr = 10.5; }, "train.lr", "(0, 10]"},
        BadExperimentCase{"MomentumOne", [](auto& c) { c.train.momentum = 1.0; }, "train.momentum",
                          "[0, 1)"},
        BadExperimentCase{"MomentumNegative", [](auto& c) { c.train.momentum = -0.1; },
                          "train.momentum", "[0, 1)"},
        BadExperimentCase{"MomentumNaN", [](auto& c) { c.train.momentum = kNaN; }, "train.momentum",
                          "[0, 1)"},
        BadExperimentCase{"FlatlineToleranceZero", [](auto& c) { c.train.flatline_tolerance = 0; },
                          "train.flatline_tolerance", "> 0"},
        BadExperimentCase{"FlatlineToleranceNaN",
                          [](auto& c) { c.train.flatline_tolerance = kNaN; },
                          "train.flatline_tolerance", "> 0"},
        BadExperimentCase{"FlatlineGradNormNegative",
                          [](auto& c) { c.train.flatline_grad_norm = -1; },
                          "train.flatline_grad_norm", "> 0"},
        BadExperimentCase{"FlatlineGradNormInfinite",
                          [](auto& c) { c.train.flatline_grad_norm = kInf; },
                          "train.flatline_grad_norm", "> 0"}),
    [](const testing::TestParamInfo<BadExperimentCase>& info) { return info.param.name; });

struct BadInitCase {
  std::string name;
  InitConfig init;
  std::string field;
  std::string allowed;
};

void PrintTo(const BadInitCase& c, std::ostream* os) { *os << c.name; }

class BadInitTest : public testing::TestWithParam<BadInitCase> {};

TEST_P(BadInitTest, IsRefusedWithFieldAndAllowedRange) {
  const BadInitCase& c = GetParam();
  const std::optional<ConfigError> error = Validate(c.init);
  ExpectRefused(error, c.name, c.field, c.allowed);
}

INSTANTIATE_TEST_SUITE_P(
    ConfigTest, BadInitTest,
    testing::Values(
        // The message lists the registered schemes, so a user sees what to type instead.
        BadInitCase{"UnknownScheme", InitConfig{.scheme = "he"}, "init.scheme",
                    "uniform, xavier, kaiming"},
        BadInitCase{"EmptyScheme", InitConfig{.scheme = ""}, "init.scheme", "kaiming"},
        BadInitCase{"SchemeIsCaseSensitive", InitConfig{.scheme = "Kaiming"}, "init.scheme",
                    "kaiming"},
        BadInitCase{"UniformLowEqualsHigh",
                    InitConfig{.scheme = "uniform", .uniform_low = 0.5, .uniform_high = 0.5},
                    "init.uniform_low", "below init.uniform_high"},
        BadInitCase{"UniformLowAboveHigh",
                    InitConfig{.scheme = "uniform", .uniform_low = 1, .uniform_high = -1},
                    "init.uniform_low", "below init.uniform_high"},
        BadInitCase{"UniformLowNaN",
                    InitConfig{.scheme = "uniform", .uniform_low = kNaN, .uniform_high = 1},
                    "init.uniform_low", "finite"},
        // The field is the one at fault: here uniform_high, not uniform_low.
        BadInitCase{"UniformHighInfinite",
                    InitConfig{.scheme = "uniform", .uniform_low = 0, .uniform_high = kInf},
                    "init.uniform_high", "finite"},
        BadInitCase{"UniformBoundTooLarge",
                    InitConfig{.scheme = "uniform", .uniform_low = -2e3, .uniform_high = 0},
                    "init.uniform_low", "1000"}),
    [](const testing::TestParamInfo<BadInitCase>& info) { return info.param.name; });

TEST(ConfigTest, AnUnknownSchemeIsQuotedShort) {
  // 39 ASCII bytes, then "é" (2 bytes) across the 40-byte cut, then a megabyte more.
  const std::string long_name = std::string(39, 'x') + "\xc3\xa9" + std::string(1 << 20, 'y');
  const std::optional<ConfigError> error = Validate(InitConfig{.scheme = long_name});
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("(got \"" + std::string(39, 'x') + "...\")."), std::string::npos)
      << error->message.substr(0, 200);
  EXPECT_LT(error->message.size(), 300u);
  const std::optional<ConfigError> short_name = Validate(InitConfig{.scheme = "he"});
  ASSERT_TRUE(short_name.has_value());
  EXPECT_NE(short_name->message.find("(got \"he\")."), std::string::npos) << short_name->message;
}

TEST(ConfigTest, AValidRunOfEverySchemeIsAccepted) {
  for (const char* scheme :
       {"uniform", "xavier", "kaiming", "xavier_uniform", "kaiming_uniform", "orthogonal"}) {
    EXPECT_FALSE(Validate(InitConfig{.scheme = scheme}).has_value()) << scheme;
  }
}

TEST(ConfigTest, ExtremeIntegersAreRefusedNotOverflowed) {
  ExperimentConfig config = LabExperiment();
  config.model.width = std::numeric_limits<int>::min();
  std::optional<ConfigError> error = Validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->field, "model.width");
  config = LabExperiment();
  config.train.steps = std::numeric_limits<int>::max();
  error = Validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->field, "train.steps");
}

TEST(ConfigTest, MessageQuotesTheRefusedValue) {
  ExperimentConfig config = LabExperiment();
  config.model.depth = 0;
  std::optional<ConfigError> error = Validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("(got 0)"), std::string::npos) << error->message;
  config = LabExperiment();
  config.train.momentum = 1.0;
  error = Validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("(got 1)"), std::string::npos) << error->message;
}

TEST(LayerShapesTest, InputThenHiddenThenClasses) {
  const ModelConfig lab;  // depth 12, width 256, input 256, classes 2
  const std::vector<LayerShape> shapes = LayerShapes(lab);
  ASSERT_EQ(shapes.size(), 12u);
  EXPECT_EQ(shapes.front(), (LayerShape{256, 256}));
  EXPECT_EQ(shapes[5], (LayerShape{256, 256}));
  EXPECT_EQ(shapes.back(), (LayerShape{256, 2}));

  const ModelConfig narrow{.depth = 3, .width = 7, .input_dim = 5, .classes = 2};
  EXPECT_EQ(LayerShapes(narrow),
            (std::vector<LayerShape>{{5, 7}, {7, 7}, {7, 2}}));
  const ModelConfig one{.depth = 1, .width = 7, .input_dim = 5, .classes = 2};
  EXPECT_EQ(LayerShapes(one), (std::vector<LayerShape>{{5, 2}}));
  EXPECT_TRUE(LayerShapes(ModelConfig{.depth = 0}).empty());
}

}  // namespace
}  // namespace ablate::core
