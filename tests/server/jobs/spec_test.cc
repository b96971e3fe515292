#include "server/jobs/spec.h"

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/config.h"
#include "server/convert/core_messages.h"

namespace ablate::jobs {
namespace {

TEST(ResolveSpecTest, EmptySpecIsLabOne) {
  absl::StatusOr<v1::JobSpec> spec = ResolveSpec(v1::JobSpec());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), kDefaultJobName);
  EXPECT_EQ(spec->model().depth(), 12);
  EXPECT_EQ(spec->model().width(), 256);
  EXPECT_EQ(spec->training().steps(), 1000);
  EXPECT_DOUBLE_EQ(spec->training().lr(), 1e-3);
  EXPECT_DOUBLE_EQ(spec->training().momentum(), 0.9);
  EXPECT_EQ(spec->training().batch(), 64);
  EXPECT_TRUE(spec->training().stop_on_nonfinite());
  EXPECT_EQ(spec->data().train_size(), 1000);
  EXPECT_EQ(spec->data().val_size(), 200);
  ASSERT_EQ(spec->runs_size(), 3);
  const std::vector<core::InitConfig> lab = core::LabRuns();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(spec->runs(i).init(), lab[i].scheme);
    EXPECT_EQ(spec->runs(i).weight_seed(), lab[i].weight_seed);
  }
  // Only the uniform run carries bounds.
  EXPECT_DOUBLE_EQ(spec->runs(0).uniform_low(), -0.5);
  EXPECT_DOUBLE_EQ(spec->runs(0).uniform_high(), 0.5);
  for (int i = 1; i < 3; ++i) {
    EXPECT_FALSE(spec->runs(i).has_uniform_low()) << spec->runs(i).init();
    EXPECT_FALSE(spec->runs(i).has_uniform_high()) << spec->runs(i).init();
  }
}

TEST(ResolveSpecTest, KeepsWhatIsSetIncludingZeros) {
  v1::JobSpec in;
  in.mutable_training()->set_momentum(0.0);
  in.mutable_data()->set_seed(0);
  in.add_runs()->set_init("kaiming");
  in.mutable_runs(0)->set_weight_seed(0);
  absl::StatusOr<v1::JobSpec> spec = ResolveSpec(in);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->training().momentum(), 0.0);
  EXPECT_EQ(spec->data().seed(), 0u);
  ASSERT_EQ(spec->runs_size(), 1);
  EXPECT_EQ(spec->runs(0).weight_seed(), 0u);
}

TEST(ResolveSpecTest, SeedsExpandEachRunIntoConsecutiveWeightSeeds) {
  v1::JobSpec in;
  in.set_seeds(5);
  absl::StatusOr<v1::JobSpec> spec = ResolveSpec(in);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->has_seeds());
  ASSERT_EQ(spec->runs_size(), 15);
  const std::vector<core::InitConfig> lab = core::LabRuns();
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(spec->runs(i).init(), lab[i / 5].scheme) << i;
    EXPECT_EQ(spec->runs(i).weight_seed(), kFirstWeightSeed + static_cast<uint64_t>(i)) << i;
  }
  // A run's own seed starts its series.
  v1::JobSpec own;
  own.add_runs()->set_init("kaiming");
  own.mutable_runs(0)->set_weight_seed(7);
  own.set_seeds(3);
  spec = ResolveSpec(own);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->runs_size(), 3);
  EXPECT_EQ(spec->runs(2).weight_seed(), 9u);
  // Resolving again keeps the expanded runs.
  absl::StatusOr<v1::JobSpec> again = ResolveSpec(*spec);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->runs_size(), 3);
}

TEST(ResolveSpecTest, VaryDataSeedGivesSeedKOfEveryInitDataSeedPlusK) {
  v1::JobSpec in;
  in.set_seeds(4);
  in.set_vary_data_seed(true);
  in.mutable_data()->set_seed(20);
  absl::StatusOr<v1::JobSpec> spec = ResolveSpec(in);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->has_vary_data_seed());
  ASSERT_EQ(spec->runs_size(), 12);
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(spec->runs(i).has_data_seed()) << i;
    EXPECT_EQ(spec->runs(i).data_seed(), 20u + static_cast<uint64_t>(i % 4)) << i;
    // What each run trains on, and its label, carry its own data seed.
    EXPECT_EQ(ToRunExperiment(ToExperiment(*spec), spec->runs(i)).data.seed,
              spec->runs(i).data_seed());
    EXPECT_NE(RunLabel(*spec, i).find(absl::StrCat("data seed ", spec->runs(i).data_seed())),
              std::string::npos)
        << RunLabel(*spec, i);
  }
  // Without it, every run trains on the job's data seed.
  in.clear_vary_data_seed();
  spec = ResolveSpec(in);
  ASSERT_TRUE(spec.ok());
  for (const v1::RunSpec& run : spec->runs()) {
    EXPECT_FALSE(run.has_data_seed());
    EXPECT_EQ(ToRunExperiment(ToExperiment(*spec), run).data.seed, 20u);
  }
  // Resolving again keeps each run's data seed.
  in.set_vary_data_seed(true);
  spec = ResolveSpec(in);
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<v1::JobSpec> again = ResolveSpec(*spec);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(spec->SerializeAsString(), again->SerializeAsString());
}

TEST(ResolveSpecTest, VaryDataSeedWithoutSeedsIsRefused) {
  for (int seeds : {0, 1}) {
    v1::JobSpec in;
    if (seeds > 0) in.set_seeds(seeds);
    in.set_vary_data_seed(true);
    const absl::StatusOr<v1::JobSpec> spec = ResolveSpec(in);
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find("vary_data_seed needs seeds of 2 to 16"),
              std::string::npos)
        << spec.status();
  }
}

TEST(ResolveSpecTest, ResolvingTwiceChangesNothing) {
  absl::StatusOr<v1::JobSpec> once = ResolveSpec(v1::JobSpec());
  ASSERT_TRUE(once.ok());
  absl::StatusOr<v1::JobSpec> twice = ResolveSpec(*once);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(once->SerializeAsString(), twice->SerializeAsString());
}

struct BadSpecCase {
  const char* what;
  std::function<void(v1::JobSpec&)> break_it;
  const char* field;  // must appear in the message
};

class BadSpecTest : public testing::TestWithParam<BadSpecCase> {};

TEST_P(BadSpecTest, IsRefusedNamingTheField) {
  v1::JobSpec spec;
  GetParam().break_it(spec);
  absl::StatusOr<v1::JobSpec> resolved = ResolveSpec(spec);
  ASSERT_FALSE(resolved.ok()) << GetParam().what;
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(resolved.status().message().find(GetParam().field), std::string::npos)
      << resolved.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Fields, BadSpecTest,
    testing::Values(
        BadSpecCase{"depth 0", [](v1::JobSpec& s) { s.mutable_model()->set_depth(0); },
                    "model.depth must be between 1 and 64"},
        BadSpecCase{"depth 65", [](v1::JobSpec& s) { s.mutable_model()->set_depth(65); },
                    "model.depth"},
        BadSpecCase{"width 0", [](v1::JobSpec& s) { s.mutable_model()->set_width(0); },
                    "model.width must be between 1 and 4096"},
        BadSpecCase{"steps 0", [](v1::JobSpec& s) { s.mutable_training()->set_steps(0); },
                    "training.steps must be between 1 and 100000"},
        BadSpecCase{"batch over train size",
                    [](v1::JobSpec& s) { s.mutable_training()->set_batch(1001); },
                    "training.batch must be between 1 and 1000"},
        BadSpecCase{"lr 0", [](v1::JobSpec& s) { s.mutable_training()->set_lr(0); },
                    "training.lr"},
        BadSpecCase{"lr nan", [](v1::JobSpec& s) { s.mutable_training()->set_lr(NAN); },
                    "training.lr"},
        BadSpecCase{"momentum 1", [](v1::JobSpec& s) { s.mutable_training()->set_momentum(1); },
                    "training.momentum"},
        BadSpecCase{"unknown init", [](v1::JobSpec& s) { s.add_runs()->set_init("he"); },
                    "runs[0].init must be one of"},
        BadSpecCase{"second run unknown",
                    [](v1::JobSpec& s) {
                      s.add_runs()->set_init("kaiming");
                      s.add_runs()->set_init("");
                    },
                    "runs[1].init"},
        BadSpecCase{"uniform bounds",
                    [](v1::JobSpec& s) {
                      v1::RunSpec& r = *s.add_runs();
                      r.set_init("uniform");
                      r.set_uniform_low(1);
                      r.set_uniform_high(-1);
                    },
                    "runs[0].uniform_low"},
        BadSpecCase{"uniform bound on another init",
                    [](v1::JobSpec& s) {
                      s.add_runs()->set_init("uniform");
                      s.add_runs()->set_init("kaiming");
                      s.mutable_runs(1)->set_uniform_low(1);
                    },
                    "runs[1].uniform_low is a bound of the uniform init only; kaiming draws "
                    "its weights from its own formula and takes no bounds"},
        BadSpecCase{"17 runs",
                    [](v1::JobSpec& s) {
                      for (int i = 0; i < 17; ++i) s.add_runs()->set_init("kaiming");
                    },
                    "runs must hold 1 to 16 runs"},
        BadSpecCase{"zero seeds", [](v1::JobSpec& s) { s.set_seeds(0); },
                    "seeds must be 1 to 16 (got 0)"},
        BadSpecCase{"too many seeded runs", [](v1::JobSpec& s) { s.set_seeds(6); },
                    "runs × seeds must be at most 16 runs (got 3 × 6 = 18)"},
        BadSpecCase{"name too long", [](v1::JobSpec& s) { s.set_name(std::string(201, 'x')); },
                    "name must be 1 to 200"},
        BadSpecCase{"control character in name", [](v1::JobSpec& s) { s.set_name("a\x1b[2Jb"); },
                    "control characters"},
        BadSpecCase{"newline in name", [](v1::JobSpec& s) { s.set_name("a\n[info] forged"); },
                    "name must be UTF-8 text without control characters"},
        BadSpecCase{"tab in name", [](v1::JobSpec& s) { s.set_name("a\tb"); }, "U+0009"},
        BadSpecCase{"NUL in name", [](v1::JobSpec& s) { s.set_name(std::string("a\0b", 3)); },
                    "U+0000"},
        BadSpecCase{"DEL in name", [](v1::JobSpec& s) { s.set_name("a\x7f"); }, "U+007F"},
        BadSpecCase{"C1 control in name", [](v1::JobSpec& s) { s.set_name("a\xc2\x9b" "2J"); },
                    "U+009B"},
        BadSpecCase{"name not UTF-8", [](v1::JobSpec& s) { s.set_name("a\xff"); },
                    "name must be UTF-8"},
        BadSpecCase{"negative depth", [](v1::JobSpec& s) { s.mutable_model()->set_depth(-1); },
                    "model.depth"},
        BadSpecCase{"huge width",
                    [](v1::JobSpec& s) { s.mutable_model()->set_width(2'000'000'000); },
                    "model.width"},
        BadSpecCase{"too many parameters",
                    [](v1::JobSpec& s) {
                      s.mutable_model()->set_depth(64);
                      s.mutable_model()->set_width(4096);
                    },
                    "model.width"},
        BadSpecCase{"lr infinite",
                    [](v1::JobSpec& s) { s.mutable_training()->set_lr(INFINITY); },
                    "training.lr"},
        BadSpecCase{"lr denormal", [](v1::JobSpec& s) { s.mutable_training()->set_lr(1e-320); },
                    "training.lr must be a normal number (not denormal"},
        BadSpecCase{"momentum denormal",
                    [](v1::JobSpec& s) { s.mutable_training()->set_momentum(1e-320); },
                    "training.momentum must be in [0, 1), and 0 or a normal number"},
        BadSpecCase{"momentum nan",
                    [](v1::JobSpec& s) { s.mutable_training()->set_momentum(NAN); },
                    "training.momentum"},
        BadSpecCase{"uniform bound infinite",
                    [](v1::JobSpec& s) {
                      v1::RunSpec& r = *s.add_runs();
                      r.set_init("uniform");
                      r.set_uniform_high(INFINITY);
                    },
                    "runs[0].uniform_high"},
        BadSpecCase{"negative train size",
                    [](v1::JobSpec& s) { s.mutable_data()->set_train_size(-5); },
                    "data.train_size"},
        BadSpecCase{"steps over the limit",
                    [](v1::JobSpec& s) { s.mutable_training()->set_steps(100'001); },
                    "training.steps"},
        BadSpecCase{"more validations than a run may make",
                    [](v1::JobSpec& s) {
                      s.mutable_training()->set_steps(100'000);
                      s.mutable_training()->set_eval_every(4);
                    },
                    "training.eval_every must be at least 5 for 100000 steps (got 4): a run "
                    "validates at most 20000 times"},
        BadSpecCase{"label dims over input",
                    [](v1::JobSpec& s) { s.mutable_data()->set_label_dims(257); },
                    "data.label_dims must be between 1 and 256"}));

TEST(ResolveSpecTest, ValidatingAtTheMostOftenAllowedIsAccepted) {
  v1::JobSpec spec;
  spec.mutable_training()->set_steps(100'000);
  spec.mutable_training()->set_eval_every(5);
  EXPECT_TRUE(ResolveSpec(spec).ok()) << ResolveSpec(spec).status();
  spec.mutable_training()->set_steps(20'000);
  spec.mutable_training()->set_eval_every(1);
  EXPECT_TRUE(ResolveSpec(spec).ok()) << ResolveSpec(spec).status();
}

TEST(ResolveSpecTest, TheSmallestNormalLrAndZeroMomentumAreAccepted) {
  v1::JobSpec spec;
  spec.mutable_training()->set_lr(2.2250738585072014e-308);
  spec.mutable_training()->set_momentum(0);
  EXPECT_TRUE(ResolveSpec(spec).ok()) << ResolveSpec(spec).status();
}

// An unnamed job is named by what it changes from lab 1; a given name is kept.
TEST(ResolveSpecTest, UnnamedJobIsNamedByItsDifferences) {
  EXPECT_EQ(ResolveSpec(v1::JobSpec())->name(), "lab-01-init-ablation");
  v1::JobSpec spec;
  spec.mutable_training()->set_lr(1e-4);
  spec.mutable_model()->set_depth(24);
  spec.mutable_data()->set_seed(9);
  spec.add_runs()->set_init("kaiming");  // inits are in the runs' labels, not the name
  EXPECT_EQ(ResolveSpec(spec)->name(), "depth 24 · lr 0.0001 · data seed 9");
  spec.mutable_training()->set_lr(1e-3);  // lab 1's own value: no difference
  EXPECT_EQ(ResolveSpec(spec)->name(), "depth 24 · data seed 9");
  spec.set_name("my sweep");
  EXPECT_EQ(ResolveSpec(spec)->name(), "my sweep");
  // The name is stored: resolving the resolved spec keeps it.
  spec.clear_name();
  const v1::JobSpec resolved = *ResolveSpec(spec);
  EXPECT_EQ(ResolveSpec(resolved)->name(), resolved.name());
}

TEST(ResolveOwnerTest, DefaultsAndLimits) {
  EXPECT_EQ(*ResolveOwner(""), kDefaultOwner);
  EXPECT_EQ(*ResolveOwner("ada"), "ada");
  EXPECT_EQ(ResolveOwner(std::string(65, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveOwner("a\nb").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ResolveOwner("a\xc2\x85").status().message().find("owner must be UTF-8"),
            std::string::npos);
  EXPECT_EQ(*ResolveOwner("zoë 🚀"), "zoë 🚀");
}

TEST(ResolveSpecTest, KeepsUnicodeNamesIntact) {
  v1::JobSpec in;
  in.set_name("Ünïcødé 名前 🚀");
  absl::StatusOr<v1::JobSpec> spec = ResolveSpec(in);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "Ünïcødé 名前 🚀");
}

TEST(ToConfigTest, CarriesEveryField) {
  v1::JobSpec in;
  in.mutable_model()->set_depth(3);
  in.mutable_training()->set_lr(0.5);
  in.mutable_data()->set_seed(77);
  v1::RunSpec& run = *in.add_runs();
  run.set_init("uniform");
  run.set_uniform_low(-2);
  run.set_weight_seed(9);
  const v1::JobSpec spec = *ResolveSpec(in);
  const core::ExperimentConfig config = ToExperiment(spec);
  EXPECT_EQ(config.model.depth, 3);
  EXPECT_DOUBLE_EQ(config.train.lr, 0.5);
  EXPECT_EQ(config.data.seed, 77u);
  const core::InitConfig init = convert::ToInitConfig(spec.runs(0));
  EXPECT_EQ(init.scheme, "uniform");
  EXPECT_EQ(init.weight_seed, 9u);
  EXPECT_DOUBLE_EQ(init.uniform_low, -2);
  EXPECT_DOUBLE_EQ(init.uniform_high, 0.5);
}

// The trainer (job manager, worker) and the reports (summary) read a run's init through the
// same conversion, so a stored spec without bounds means the same interval to both: lab 1's,
// never U[0, 0].
TEST(ToConfigTest, UnsetUniformBoundsAreTheCoresDefaults) {
  v1::RunSpec run;
  run.set_init("uniform");
  run.set_weight_seed(3);
  const core::InitConfig init = convert::ToInitConfig(run);
  const core::InitConfig defaults;
  EXPECT_DOUBLE_EQ(init.uniform_low, defaults.uniform_low);
  EXPECT_DOUBLE_EQ(init.uniform_high, defaults.uniform_high);
  EXPECT_FALSE(core::Validate(init).has_value());
  run.set_uniform_high(0.25);
  EXPECT_DOUBLE_EQ(convert::ToInitConfig(run).uniform_low, defaults.uniform_low);
  EXPECT_DOUBLE_EQ(convert::ToInitConfig(run).uniform_high, 0.25);
}

TEST(ToConfigTest, ModelShapeIsCarriedFieldForField) {
  v1::ModelSpec model;
  model.set_depth(4);
  model.set_width(8);
  model.set_input_dim(5);
  model.set_classes(2);
  const core::ModelConfig config = convert::ToModelConfig(model);
  EXPECT_EQ(config.depth, 4);
  EXPECT_EQ(config.width, 8);
  EXPECT_EQ(config.input_dim, 5);
  EXPECT_EQ(config.classes, 2);
}

}  // namespace
}  // namespace ablate::jobs
