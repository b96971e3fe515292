// bench_core: how fast core::Trainer trains lab 1's model on one core, against this machine's
// single-core sgemm rate at the step's own GEMM shapes (the "roofline") and against PyTorch.
//
// The roofline is the machine's best sgemm: per shape, the fastest of a direct cblas_sgemm call
// (OpenBLAS), Eigen's product expression and the core's own products (core/gemm.h), flop-weighted
// over the step; the rate of the core's products alone is printed beside it. In bench_core_blas
// the core's products and Eigen's both go to OpenBLAS (EIGEN_USE_BLAS), so its "machine's best"
// lacks the other kernels: it says so, and run-core-bench.sh holds both cores against the best
// of the two binaries.
//
// It also times each phase of the step (core/train_step.h's StepProfile) on both step paths, and
// prints where the time goes against the roofline: the GEMMs' shortfall from roofline speed and
// everything else, phase by phase. Beside them it prints two ceilings: the core's peak FMA rate
// (which no GEMM exceeds; how close the roofline is to the hardware), and the step's GEMMs alone
// in the step's order, with what a step would reach at their speed and everything else as
// measured.
//
// A benchmark, not a test: it prints numbers and asserts nothing about speed. The same source
// builds bench_core (the core on its own GEMM kernel) and bench_core_blas (the core compiled
// with EIGEN_USE_BLAS, so its GEMMs go through Eigen to OpenBLAS); see CMakeLists.txt beside it and
// run-core-bench.sh for both at once.
//
//   bench_core [--steps N] [--repeats R] [--warmup W] [--no-torch] [--roofline-only]
//
// --roofline-only measures and prints the roofline alone (run-lab-bench.sh uses it).
//
// Single-threaded throughout: the core uses no threads (Eigen is not built with OpenMP) and
// OpenBLAS is held to one thread for the roofline and for PyTorch.

#include <cblas.h>
#include <immintrin.h>

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/data.h"
#include "core/gemm.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/train_step.h"
#include "core/trainer.h"
#include "tests/support/stats.h"

#ifndef ABLATE_TORCH_SCRIPT
#error "ABLATE_TORCH_SCRIPT (the path of torch_lab.py) must be defined by the build"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using ablate::core::Matrix;
using ablate::test_support::Median;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Options {
  int steps = 1000;
  int repeats = 3;
  int warmup = 100;
  bool torch = true;
  bool roofline_only = false;
};

// Returns nothing after printing one sentence when an argument is not understood.
std::optional<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto number = [&](int& field, int low, int high) {
      if (i + 1 >= argc) return false;
      char* end = nullptr;
      const long value = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || value < low || value > high) return false;
      field = static_cast<int>(value);
      return true;
    };
    bool ok = true;
    if (arg == "--steps") {
      ok = number(o.steps, 1, ablate::core::kMaxSteps);
    } else if (arg == "--repeats") {
      ok = number(o.repeats, 1, 100);
    } else if (arg == "--warmup") {
      ok = number(o.warmup, 1, ablate::core::kMaxSteps);
    } else if (arg == "--no-torch") {
      o.torch = false;
    } else if (arg == "--roofline-only") {
      o.roofline_only = true;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr,
                   "bench_core: bad argument '%s'; usage: bench_core [--steps 1..%d] "
                   "[--repeats 1..100] [--warmup 1..%d] [--no-torch] [--roofline-only]\n",
                   arg.c_str(), ablate::core::kMaxSteps, ablate::core::kMaxSteps);
      return std::nullopt;
    }
  }
  return o;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// ---------------------------------------------------------------------------------------------
// Training throughput.

// FNV-1a over the bytes of each step's loss and weight-gradient norm: a fingerprint of a
// trajectory, so that two builds, two core revisions or two step paths compare bit for bit.
class TrajectoryHash {
 public:
  void Add(float loss, float weight_grad_norm) {
    Mix(loss);
    Mix(weight_grad_norm);
  }
  uint64_t value() const { return hash_; }

 private:
  void Mix(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    for (int k = 0; k < 4; ++k) hash_ = (hash_ ^ ((bits >> (8 * k)) & 0xffu)) * 1099511628211ull;
  }
  uint64_t hash_ = 14695981039346656037ull;
};

// Sums the per-step wall times the trainer reports and fingerprints the trajectory.
class StepTimer : public ablate::core::RunObserver {
 public:
  void OnStep(const ablate::core::StepRecord& step) override {
    step_seconds += step.seconds;
    each_step.push_back(step.seconds);
    hash.Add(step.loss, step.weight_grad_norm);
  }
  double step_seconds = 0;
  std::vector<double> each_step;
  TrajectoryHash hash;
};

struct TrainTiming {
  double step_seconds;  // sum of StepRecord::seconds: forward, loss, backward, grad norm, update
  double run_seconds;   // all of Trainer::Run, with its evaluations and probe statistics
  std::vector<double> each_step;
  uint64_t loss_hash;
  float final_loss;
  std::string outcome;
};

TrainTiming TimeTraining(const ablate::core::ExperimentConfig& config,
                         const ablate::core::Dataset& data, const ablate::core::InitConfig& init,
                         ablate::core::StepPath path) {
  ablate::core::Trainer trainer(config, data, init, path);
  StepTimer timer;
  const Clock::time_point start = Clock::now();
  const ablate::core::RunResult result = trainer.Run(&timer);
  const double run_seconds = SecondsSince(start);
  return TrainTiming{.step_seconds = timer.step_seconds,
                     .run_seconds = run_seconds,
                     .each_step = std::move(timer.each_step),
                     .loss_hash = timer.hash.value(),
                     .final_loss = result.final_loss,
                     .outcome = ablate::core::DescribeOutcome(result)};
}

// ---------------------------------------------------------------------------------------------
// The GEMM roofline at the step's shapes.

// One GEMM of the step, column-major C (m × n) = op(A) · op(B) with inner dimension k.
struct GemmShape {
  int m, n, k;
  bool trans_a, trans_b;
  std::string what;  // which products of the step have this shape
  int count = 0;     // how many of them one step performs
  double Flops() const { return 2.0 * m * n * k; }
  auto Key() const { return std::tie(m, n, k, trans_a, trans_b); }
};

// The GEMMs of Linear::Forward and Linear::Backward for every layer (core/model.cc):
//   forward       y  = W x      W (out × in), x (in × B)      m=out n=B  k=in
//   weight grad   dW = dy xᵀ    dy (out × B), x (in × B)      m=out n=in k=B   (B transposed)
//   input grad    dx = Wᵀ dy    W (out × in), dy (out × B)    m=in  n=B  k=out (A transposed)
// The first layer computes no input gradient.
std::vector<GemmShape> StepGemms(const ablate::core::Mlp& mlp, int batch) {
  std::vector<GemmShape> shapes;
  auto add = [&](GemmShape s) {
    for (GemmShape& existing : shapes) {
      if (existing.Key() == s.Key()) {
        if (existing.what.find(s.what) == std::string::npos) existing.what += ", " + s.what;
        ++existing.count;
        return;
      }
    }
    s.count = 1;
    shapes.push_back(s);
  };
  const auto& layers = mlp.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    const int in = layers[i].in(), out = layers[i].out();
    add({out, batch, in, false, false, "forward"});
    add({out, in, batch, false, true, "weight grad"});
    if (i > 0) add({in, batch, out, true, false, "input grad"});
  }
  return shapes;
}

// Calls per timing sample of `gemm` so that one sample lasts at least 10 ms.
template <typename F>
int CallsPerSample(F& gemm) {
  for (int i = 0; i < 3; ++i) gemm();  // warm caches and any lazy initialisation
  int calls = 1;
  for (;;) {
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < calls; ++i) gemm();
    if (SecondsSince(start) >= 0.01) return calls;
    calls *= 2;
  }
}

template <typename F>
double SampleGflops(double flops, int calls, F& gemm) {
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < calls; ++i) gemm();
  return flops * calls / SecondsSince(start) / 1e9;
}

// `core` is the core's own products (core/gemm.h), what the step runs on: the core's kernel in
// bench_core, OpenBLAS (through Eigen) in bench_core_blas. `eigen` is Eigen's product
// expression: Eigen's kernels in bench_core, OpenBLAS in bench_core_blas. `openblas` is a direct
// cblas_sgemm call in both.
struct GemmRates {
  double openblas = 0, eigen = 0, core = 0;
  double best() const { return std::max({openblas, eigen, core}); }  // the best kernel here
  double backend() const { return core; }  // what the core's products run on
};

// Which products the core runs on, as the roofline lines name it.
const char* BackendName() { return ablate::core::gemm::KernelDescription(); }

// The flop-weighted rate of one step's GEMMs at rate(shape) GFLOP/s per shape: the step's GEMM
// flops over the time they would take. Returns {GFLOP/s, seconds per step}.
template <typename Rate>
std::pair<double, double> StepRoofline(const std::vector<GemmShape>& gemms,
                                       const std::vector<GemmRates>& rates, Rate rate) {
  double seconds = 0, flops = 0;
  for (size_t i = 0; i < gemms.size(); ++i) {
    seconds += gemms[i].count * gemms[i].Flops() / (rate(rates[i]) * 1e9);
    flops += gemms[i].count * gemms[i].Flops();
  }
  return {flops / seconds / 1e9, seconds};
}

// The core's ceiling: single-precision FMAs per second on one core, as many independent chains
// as keep every FMA unit busy (12 accumulators of the widest vector the build targets), nothing
// loaded or stored. No GEMM can exceed it, so it says how close the roofline already is to the
// hardware and what is left for everything else in a step. Best of 10 samples of >= 10 ms;
// 0 when the build targets neither AVX-512 nor AVX2 with FMA.
double PeakFmaGflops() {
#if defined(__AVX512F__)
  using V = __m512;
  auto splat = [](float x) { return _mm512_set1_ps(x); };
  auto fma = [](V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); };
#elif defined(__AVX2__) && defined(__FMA__)
  using V = __m256;
  auto splat = [](float x) { return _mm256_set1_ps(x); };
  auto fma = [](V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); };
#else
  return 0;
#endif
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  constexpr int kLanes = sizeof(V) / sizeof(float);
  constexpr int kChains = 12;
  constexpr long kIterations = 1 << 20;  // 12 x 2^20 FMAs: a few ms a sample
  const V m = splat(0.999f), c = splat(0.001f);
  double best = 0;
  float sink = 0;
  for (int sample = 0; sample < 10; ++sample) {
    V acc[kChains];
    for (int k = 0; k < kChains; ++k) acc[k] = splat(static_cast<float>(k));
    long iterations = 0;
    const Clock::time_point start = Clock::now();
    do {
      for (long i = 0; i < kIterations; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < kChains; ++k) acc[k] = fma(acc[k], m, c);
      }
      iterations += kIterations;
    } while (SecondsSince(start) < 0.01);
    const double seconds = SecondsSince(start);
    for (const V& a : acc) {  // the chains' results, used, so that they are computed
      float lanes[kLanes];
      std::memcpy(lanes, &a, sizeof lanes);
      sink = std::accumulate(lanes, lanes + kLanes, sink);
    }
    best = std::max(best, 2.0 * kLanes * kChains * iterations / seconds / 1e9);
  }
  if (sink == 0.5f) std::printf(" ");  // keeps `sink` itself alive
  return best;
#endif
}

// The two roofline lines every run prints. The first, the machine's best sgemm measured in this
// binary, is what the core is held against (run-lab-bench.sh and run-core-bench.sh read it by
// its "roofline (flop-weighted" words); the second is the core's own backend alone.
void PrintRooflines(const std::vector<GemmShape>& gemms, const std::vector<GemmRates>& rates) {
  const auto [best, best_seconds] =
      StepRoofline(gemms, rates, [](const GemmRates& r) { return r.best(); });
  const auto [backend, backend_seconds] =
      StepRoofline(gemms, rates, [](const GemmRates& r) { return r.backend(); });
  std::printf(
      "  machine's best sgemm, roofline (flop-weighted over the step's GEMMs, the fastest kernel "
      "measured for each shape): %.2f GFLOP/s = %.3f ms/step = %.1f steps/s\n",
      best, best_seconds * 1e3, 1.0 / best_seconds);
  std::printf("  this core's backend alone (%s): %.2f GFLOP/s = %.3f ms/step = %.1f steps/s\n",
              BackendName(), backend, backend_seconds * 1e3, 1.0 / backend_seconds);
#ifdef EIGEN_USE_BLAS
  std::printf(
      "  note: in this binary every product goes to OpenBLAS, so neither Eigen's kernels nor "
      "the core's own are among the kernels measured; bench_core measures them, and "
      "run-core-bench.sh holds both cores against the best of the two binaries\n");
#endif
}

// The best of kGemmSamples samples per implementation, the two implementations alternating so
// that both see the same machine (other load on it only ever lowers a sample).
constexpr int kGemmSamples = 15;

GemmRates MeasureGemm(const GemmShape& s) {
  // Stored shapes: A is (m × k) or, transposed, (k × m); B is (k × n) or (n × k).
  const Matrix a = Matrix::Random(s.trans_a ? s.k : s.m, s.trans_a ? s.m : s.k);
  const Matrix b = Matrix::Random(s.trans_b ? s.n : s.k, s.trans_b ? s.k : s.n);
  Matrix c = Matrix::Zero(s.m, s.n);
  auto openblas = [&] {
    cblas_sgemm(CblasColMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                s.trans_b ? CblasTrans : CblasNoTrans, s.m, s.n, s.k, 1.0f, a.data(),
                static_cast<int>(a.rows()), b.data(), static_cast<int>(b.rows()), 0.0f, c.data(),
                static_cast<int>(c.rows()));
  };
  auto eigen = [&] {
    if (s.trans_a) {
      c.noalias() = a.transpose() * b;
    } else if (s.trans_b) {
      c.noalias() = a * b.transpose();
    } else {
      c.noalias() = a * b;
    }
  };
  // The same calls as core/model.cc and core/train_step.cc.
  auto core = [&] {
    if (s.trans_a) {
      ablate::core::gemm::ProductTransposedA(a, b, c);
    } else if (s.trans_b) {
      ablate::core::gemm::ProductTransposedB(a, b, c);
    } else {
      ablate::core::gemm::Product(a, b, c);
    }
  };
  const int openblas_calls = CallsPerSample(openblas), eigen_calls = CallsPerSample(eigen),
            core_calls = CallsPerSample(core);
  GemmRates rates;
  for (int sample = 0; sample < kGemmSamples; ++sample) {
    rates.openblas = std::max(rates.openblas, SampleGflops(s.Flops(), openblas_calls, openblas));
    rates.eigen = std::max(rates.eigen, SampleGflops(s.Flops(), eigen_calls, eigen));
    rates.core = std::max(rates.core, SampleGflops(s.Flops(), core_calls, core));
  }
  return rates;
}

// ---------------------------------------------------------------------------------------------
// Where a step's time goes.

// Phase index for data gathering, after the core's own phases.
constexpr int kDataPhase = ablate::core::kStepPhaseCount;
constexpr int kPhaseSlots = ablate::core::kStepPhaseCount + 1;

struct PhaseTimes {
  std::vector<std::array<double, kPhaseSlots>> per_step;  // seconds of each phase, each step
  std::vector<double> step_seconds;                       // each whole step
  uint64_t hash = 0;
};

// The trainer's step (core/trainer.cc: BatchSampler::Next, then TrainStep) rebuilt from the same
// parts with a StepProfile attached, so that each phase is timed where it runs. Its trajectory
// hash equals the trainer's when it computed the same thing.
PhaseTimes TimePhases(const ablate::core::ExperimentConfig& config,
                      const ablate::core::Dataset& data, const ablate::core::InitConfig& init,
                      ablate::core::StepPath path) {
  using namespace ablate::core;
  const int batch = config.train.batch;
  Mlp model(config.model);
  model.Initialize(*FindInitScheme(init.scheme), init);
  SgdMomentum optimizer(model, config.train.lr, config.train.momentum);
  BatchSampler sampler(data, batch, config.data.seed);
  Workspace ws(config.model, batch);
  TrainStep step(model, optimizer, ws, path);
  Matrix x(config.model.input_dim, batch);
  std::vector<int32_t> y(batch);
  StepProfile profile;
  step.set_profile(&profile);
  PhaseTimes times;
  times.per_step.reserve(config.train.steps);
  times.step_seconds.reserve(config.train.steps);
  TrajectoryHash hash;
  for (int i = 0; i < config.train.steps; ++i) {
    profile = {};
    const Clock::time_point start = Clock::now();
    sampler.Next(x, y);
    const double data_seconds = SecondsSince(start);
    const float loss = step.ForwardAndLoss(x, y);
    float norm = std::numeric_limits<float>::quiet_NaN();
    if (std::isfinite(loss)) norm = static_cast<float>(step.BackwardAndUpdate(x));
    times.step_seconds.push_back(SecondsSince(start));
    std::array<double, kPhaseSlots> phases{};
    std::copy(profile.seconds.begin(), profile.seconds.end(), phases.begin());
    phases[kDataPhase] = data_seconds;
    times.per_step.push_back(phases);
    hash.Add(loss, norm);
    if (!std::isfinite(loss)) break;
  }
  times.hash = hash.value();
  return times;
}

double PhaseMedian(const PhaseTimes& t, int phase) {
  std::vector<double> v;
  for (const auto& step : t.per_step) v.push_back(step[phase]);
  return Median(v);
}

double PhaseMean(const PhaseTimes& t, int phase) {
  double sum = 0;
  for (const auto& step : t.per_step) sum += step[phase];
  return sum / static_cast<double>(t.per_step.size());
}

double PhaseMin(const PhaseTimes& t, int phase) {
  double min = std::numeric_limits<double>::infinity();
  for (const auto& step : t.per_step) min = std::min(min, step[phase]);
  return min;
}

// What the roofline says about the GEMM phases.
struct GemmPhaseRoofline {
  double forward_seconds = 0, backward_seconds = 0;  // per step, at roofline speed
  double forward_flops = 0, backward_flops = 0;      // per step
};

struct PhaseRow {
  std::string name;
  int slot;             // a StepPhase, or kDataPhase
  double flops = 0;     // GEMM rows: flops per step
  double roof_seconds;  // GEMM rows: the same flops at roofline speed
};

// One table per path: each phase's median, minimum and mean per step, its share of the sum of
// medians and, for GEMM phases, the rate and the fraction of the roofline. Returns the sum of
// the medians.
double PrintPhaseTable(const char* path, const PhaseTimes& t, const std::vector<PhaseRow>& rows) {
  double total = 0;
  for (const PhaseRow& row : rows) total += PhaseMedian(t, row.slot);
  std::printf("  %-48s %9s %8s %8s %6s %8s %7s\n", path, "median ms", "min ms", "mean ms", "share",
              "GFLOP/s", "of roof");
  double total_min = 0, total_mean = 0;
  for (const PhaseRow& row : rows) {
    const double median = PhaseMedian(t, row.slot), min = PhaseMin(t, row.slot),
                 mean = PhaseMean(t, row.slot);
    total_min += min;
    total_mean += mean;
    std::printf("    %-46s %9.3f %8.3f %8.3f %5.1f%%", row.name.c_str(), median * 1e3, min * 1e3,
                mean * 1e3, 100 * median / total);
    if (row.flops > 0) {
      std::printf(" %8.2f %6.1f%%", row.flops / median / 1e9, 100 * row.roof_seconds / median);
    }
    std::printf("\n");
  }
  std::printf("    %-46s %9.3f %8.3f %8.3f\n", "sum of the phases", total * 1e3, total_min * 1e3,
              total_mean * 1e3);
  std::printf("    %-46s %9.3f %8.3f %8.3f\n", "whole step, timed around it",
              Median(t.step_seconds) * 1e3,
              *std::min_element(t.step_seconds.begin(), t.step_seconds.end()) * 1e3,
              std::accumulate(t.step_seconds.begin(), t.step_seconds.end(), 0.0) /
                  static_cast<double>(t.step_seconds.size()) * 1e3);
  return total;
}

// The step's GEMMs alone: the fused path's products, in the step's order, on a model of the
// lab's shapes (its own weights, activations and gradient scratch), with nothing between them:
// no loss, no elementwise pass, no update. It shows what the products reach on their own when
// each one's operands come from wherever the products before it left them (lab 1's 2.8 MB of
// weights and its activations do not fit in L2), against the roofline's loop over one shape,
// whose operands stay in cache. Median seconds per step of 300, after 30 unmeasured.
double StepOrderGemmSeconds(const ablate::core::Mlp& mlp, int batch) {
  namespace gemm = ablate::core::gemm;
  using ablate::core::Matrix;
  const auto& layers = mlp.layers();
  const size_t last = layers.size() - 1;
  const Matrix x = Matrix::Random(layers[0].in(), batch);
  std::vector<Matrix> post, pre;
  Eigen::Index scratch = 0;
  for (const auto& layer : layers) {
    post.push_back(Matrix::Random(layer.out(), batch));
    pre.push_back(Matrix::Random(layer.out(), batch));
    scratch = std::max(scratch, layer.weight.size());
  }
  std::vector<float> weight_grad(static_cast<size_t>(scratch));
  auto step = [&] {
    const Matrix* input = &x;
    for (size_t i = 0; i < last; ++i) {
      gemm::ProductAddBiasRelu(layers[i].weight, *input, layers[i].bias, post[i]);
      input = &post[i];
    }
    gemm::Product(layers[last].weight, *input, post[last]);
    const Matrix* dy = &pre[last];
    for (size_t i = layers.size(); i-- > 0;) {
      const Matrix& in = i == 0 ? x : post[i - 1];
      if (i > 0) gemm::ProductTransposedAGated(layers[i].weight, *dy, in, pre[i - 1]);
      Eigen::Map<Matrix> dw(weight_grad.data(), layers[i].out(), layers[i].in());
      gemm::ProductTransposedB(*dy, in, dw);
      if (i > 0) dy = &pre[i - 1];
    }
  };
  for (int i = 0; i < 30; ++i) step();
  std::vector<double> seconds;
  for (int i = 0; i < 300; ++i) {
    const Clock::time_point start = Clock::now();
    step();
    seconds.push_back(SecondsSince(start));
  }
  return Median(seconds);
}

void PrintBreakdown(const PhaseTimes& fused, const PhaseTimes& reference,
                    const GemmPhaseRoofline& roof, double eval_seconds_per_step,
                    double roofline_step_seconds, double step_order_gemm_seconds) {
  using ablate::core::StepPhase;
  auto row = [](StepPhase p, double flops = 0, double roof_seconds = 0) {
    return PhaseRow{std::string(ablate::core::StepPhaseName(p)), static_cast<int>(p), flops,
                    roof_seconds};
  };
  const PhaseRow data{"data gathering (batch copy)", kDataPhase, 0, 0};
  const std::vector<PhaseRow> fused_rows = {
      data,
      row(StepPhase::kForwardGemm, roof.forward_flops, roof.forward_seconds),
      row(StepPhase::kForwardElementwise),
      row(StepPhase::kLoss),
      row(StepPhase::kBackwardGemm, roof.backward_flops, roof.backward_seconds),
      row(StepPhase::kBackwardElementwise),
      row(StepPhase::kUpdateAndNorm),
  };
  const std::vector<PhaseRow> reference_rows = {
      data,
      row(StepPhase::kForward),
      row(StepPhase::kLoss),
      row(StepPhase::kBackward),
      row(StepPhase::kNorm),
      row(StepPhase::kUpdate),
  };
  const double fused_total = PrintPhaseTable("fused path", fused, fused_rows);
  const double reference_total = PrintPhaseTable("reference path", reference, reference_rows);
  std::printf("  fused / reference, sums of the medians: %.2fx\n", reference_total / fused_total);
  std::printf(
      "  evaluation and probe statistics: %.3f ms per step (Trainer::Run minus its steps; "
      "not in steps/s)\n",
      eval_seconds_per_step * 1e3);
  auto median = [&](StepPhase p) { return PhaseMedian(fused, static_cast<int>(p)); };
  const double gemm = median(StepPhase::kForwardGemm) + median(StepPhase::kBackwardGemm);
  const double roof_gemm = roof.forward_seconds + roof.backward_seconds;
  const double other = fused_total - gemm;
  const double goal = roofline_step_seconds / 0.9;
  std::printf(
      "  fused, medians: GEMMs %.3f ms = %.1f%% of roofline speed (%.3f ms at roofline); "
      "everything else %.3f ms = %.1f%% of the step\n",
      gemm * 1e3, 100 * roof_gemm / gemm, roof_gemm * 1e3, other * 1e3, 100 * other / fused_total);
  std::printf(
      "  90%% of the machine's best sgemm is a %.3f ms step; this one is %.3f ms: %.3f ms over, of "
      "which "
      "GEMMs below roofline speed %.3f ms and everything else beyond its %.3f ms allowance "
      "%.3f ms\n",
      goal * 1e3, fused_total * 1e3, (fused_total - goal) * 1e3, (gemm - roof_gemm) * 1e3,
      (goal - roof_gemm) * 1e3, (other - (goal - roof_gemm)) * 1e3);
  std::printf(
      "  the step's GEMMs alone, in its order and nothing between them: %.3f ms = %.1f%% of "
      "roofline speed; at that speed and with everything else as measured, a step would be at "
      "most %.1f%% of the machine's best sgemm\n",
      step_order_gemm_seconds * 1e3, 100 * roof_gemm / step_order_gemm_seconds,
      100 * roofline_step_seconds / (step_order_gemm_seconds + other));
}

// ---------------------------------------------------------------------------------------------
// PyTorch.

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The first interpreter that can import torch: $ABLATE_BENCH_PYTHON if set, else python3 on the
// PATH, else the system's /usr/bin/python3 (Debian's python3-torch installs there, and a pyenv
// or venv python3 earlier on the PATH usually lacks it).
std::optional<std::string> FindTorchPython(std::vector<std::string>& tried) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("ABLATE_BENCH_PYTHON"); env != nullptr && *env != '\0') {
    candidates.push_back(env);
  } else {
    candidates = {"python3", "/usr/bin/python3"};
  }
  for (const std::string& python : candidates) {
    tried.push_back(python);
    const std::string command = Quote(python) + " -c 'import torch' >/dev/null 2>&1";
    if (std::system(command.c_str()) == 0) return python;
  }
  return std::nullopt;
}

// Runs torch_lab.py, echoes its output indented, and returns its "key: value" lines.
std::map<std::string, std::string> RunTorchScript(const std::string& python, const Options& o) {
  const std::string command = "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 " +
                              Quote(python) + " " + Quote(ABLATE_TORCH_SCRIPT) + " --steps " +
                              std::to_string(o.steps) + " --repeats " + std::to_string(o.repeats) +
                              " --warmup " + std::to_string(o.warmup) + " 2>&1";
  std::map<std::string, std::string> values;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return values;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
    std::string line = buffer;
    std::printf("  | %s", line.c_str());
    if (!line.empty() && line.back() == '\n') line.pop_back();
    const size_t colon = line.find(": ");
    if (colon != std::string::npos && line.find(' ') > colon) {
      values[line.substr(0, colon)] = line.substr(colon + 2);
    }
  }
  const int status = pclose(pipe);
  if (status != 0) std::printf("  torch_lab.py exited with status %d\n", status);
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> parsed = ParseOptions(argc, argv);
  if (!parsed) return 2;
  const Options& o = *parsed;
  openblas_set_num_threads(1);

#ifdef EIGEN_USE_BLAS
  const char* variant = "bench_core_blas (core compiled with EIGEN_USE_BLAS, GEMMs in OpenBLAS)";
  const bool use_blas = true;
#else
  const char* variant = "bench_core (core on its own GEMM kernel)";
  const bool use_blas = false;
#endif
  std::printf("== Ablate core benchmark: %s\n", variant);
  std::printf("cpu: %s; load average at start: %s\n", CpuModel().c_str(), LoadAverage().c_str());
  std::printf("Eigen %d.%d.%d; SIMD in use: %s; EIGEN_USE_BLAS: %s\n", EIGEN_WORLD_VERSION,
              EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION, Eigen::SimdInstructionSetsInUse(),
              use_blas ? "on" : "off");
  std::printf("OpenBLAS: %s; core %s; threads %d\n", openblas_get_config(), openblas_get_corename(),
              openblas_get_num_threads());

  ablate::core::ExperimentConfig config = ablate::core::LabExperiment();
  config.train.steps = o.steps;
  const ablate::core::InitConfig init{.scheme = "kaiming", .weight_seed = 103};
  if (auto error = ablate::core::Validate(config)) {
    std::fprintf(stderr, "bench_core: %s: %s\n", error->field.c_str(), error->message.c_str());
    return 2;
  }
  const ablate::core::Dataset data =
      ablate::core::MakeLabDataset(config.data, config.model.input_dim);
  const ablate::core::Mlp mlp(config.model);
  const int batch = config.train.batch;
  const double step_flops = mlp.StepFlops(batch);
  std::printf("model: depth %d, width %d, input %d, classes %d, batch %d: %.4f GFLOP per step\n",
              config.model.depth, config.model.width, config.model.input_dim, config.model.classes,
              batch, step_flops / 1e9);

  // The roofline is measured before the training and again after it, and each shape keeps its
  // best rate: other load on the machine only ever lowers a sample, so the roofline that the
  // training is held against comes from the quietest moment of the run.
  const std::vector<GemmShape> gemms = StepGemms(mlp, batch);
  std::vector<GemmRates> gemm_rates;
  for (const GemmShape& s : gemms) gemm_rates.push_back(MeasureGemm(s));
  double peak_fma = PeakFmaGflops();  // best of before and after, as the roofline

  if (o.roofline_only) {
    PrintRooflines(gemms, gemm_rates);
    return 0;
  }

  // --- Training.
  using ablate::core::StepPath;
  const StepPath trainer_path = ablate::core::kDefaultStepPath;
  const StepPath other_path =
      trainer_path == StepPath::kFused ? StepPath::kReference : StepPath::kFused;
  auto path_name = [](StepPath p) { return p == StepPath::kFused ? "fused" : "reference"; };
  std::printf(
      "\n-- training: core::Trainer, %s init, %d steps x %d repeats after a %d-step warm-up; "
      "the trainer's path (%s) and the other (%s) alternate\n",
      init.scheme.c_str(), o.steps, o.repeats, o.warmup, path_name(trainer_path),
      path_name(other_path));
  {
    ablate::core::ExperimentConfig warm = config;
    warm.train.steps = o.warmup;
    TimeTraining(warm, data, init, trainer_path);
    TimeTraining(warm, data, init, other_path);
  }
  std::vector<double> step_rates, run_rates, all_steps, other_rates, eval_seconds;
  std::vector<uint64_t> hashes;
  std::printf("  %-6s %-9s %14s %18s %10s  %s\n", "repeat", "path", "steps/s(step)",
              "steps/s(Run+eval)", "GFLOP/s", "trajectory");
  for (int r = 0; r < o.repeats; ++r) {
    for (StepPath path : {trainer_path, other_path}) {
      const TrainTiming t = TimeTraining(config, data, init, path);
      const double rate = o.steps / t.step_seconds;
      if (path == trainer_path) {
        step_rates.push_back(rate);
        run_rates.push_back(o.steps / t.run_seconds);
        all_steps.insert(all_steps.end(), t.each_step.begin(), t.each_step.end());
        eval_seconds.push_back((t.run_seconds - t.step_seconds) / o.steps);
      } else {
        other_rates.push_back(rate);
      }
      hashes.push_back(t.loss_hash);
      std::printf("  %-6d %-9s %14.1f %18.1f %10.2f  %s, final loss %.6g, hash %016llx\n", r + 1,
                  path_name(path), rate, o.steps / t.run_seconds, rate * step_flops / 1e9,
                  t.outcome.c_str(), t.final_loss, static_cast<unsigned long long>(t.loss_hash));
    }
  }
  const double best_rate = *std::max_element(step_rates.begin(), step_rates.end());
  const double median_rate = Median(step_rates);
  const double achieved = best_rate * step_flops / 1e9;
  const bool deterministic =
      std::all_of(hashes.begin(), hashes.end(), [&](uint64_t h) { return h == hashes[0]; });
  std::printf(
      "  best %.1f steps/s (%.3f ms/step, %.2f GFLOP/s); median %.1f steps/s; "
      "Run with evaluation: best %.1f steps/s  [%s path, the trainer's]\n",
      best_rate, 1e3 / best_rate, achieved, median_rate,
      *std::max_element(run_rates.begin(), run_rates.end()), path_name(trainer_path));
  std::printf(
      "  1 / median step time: %.1f steps/s (less sensitive to other load than the "
      "totals)\n",
      1.0 / Median(all_steps));
  const double other_best = *std::max_element(other_rates.begin(), other_rates.end());
  std::printf("  %s path: best %.1f steps/s; %s / %s = %.2fx\n", path_name(other_path), other_best,
              path_name(trainer_path), path_name(other_path), best_rate / other_best);
  std::printf("  repeats and paths bitwise identical: %s\n", deterministic ? "yes" : "NO");

  // --- Where the time goes (timed now, printed after the roofline it is compared with).
  const PhaseTimes fused_phases = TimePhases(config, data, init, StepPath::kFused);
  const double step_order_gemm_seconds = StepOrderGemmSeconds(mlp, batch);
  const PhaseTimes reference_phases = TimePhases(config, data, init, StepPath::kReference);

  // --- Roofline.
  for (size_t i = 0; i < gemms.size(); ++i) {
    const GemmRates again = MeasureGemm(gemms[i]);
    gemm_rates[i].openblas = std::max(gemm_rates[i].openblas, again.openblas);
    gemm_rates[i].eigen = std::max(gemm_rates[i].eigen, again.eigen);
    gemm_rates[i].core = std::max(gemm_rates[i].core, again.core);
  }
  peak_fma = std::max(peak_fma, PeakFmaGflops());
  std::printf(
      "\n-- roofline: single-core sgemm at the step's GEMM shapes (column-major, best of "
      "2 x %d samples of >= 10 ms each, before and after the training)\n",
      kGemmSamples);
  std::printf("  %-16s %-5s %5s  %-28s %9s %10s %9s %9s\n", "m x n x k", "op", "count",
              "in the step", "OpenBLAS", use_blas ? "Eigen>BLAS" : "Eigen", "core", "best");
  std::printf(
      "  (OpenBLAS: cblas_sgemm; %s: Eigen's product expression; core: the core's own products, "
      "on %s)\n",
      use_blas ? "Eigen>BLAS" : "Eigen", BackendName());
  double roofline_seconds = 0, gemm_flops = 0;
  GemmPhaseRoofline phase_roofline;
  for (size_t i = 0; i < gemms.size(); ++i) {
    const GemmShape& s = gemms[i];
    const GemmRates& rates = gemm_rates[i];
    char dims[32], op[8];
    std::snprintf(dims, sizeof dims, "%dx%dx%d", s.m, s.n, s.k);
    std::snprintf(op, sizeof op, "%s%s", s.trans_a ? "T" : "N", s.trans_b ? "T" : "N");
    std::printf("  %-16s %-5s %5d  %-28s %9.2f %10.2f %9.2f %9.2f\n", dims, op, s.count,
                s.what.c_str(), rates.openblas, rates.eigen, rates.core, rates.best());
    const double seconds = s.count * s.Flops() / (rates.best() * 1e9);
    roofline_seconds += seconds;
    gemm_flops += s.count * s.Flops();
    const bool forward = !s.trans_a && !s.trans_b;
    (forward ? phase_roofline.forward_seconds : phase_roofline.backward_seconds) += seconds;
    (forward ? phase_roofline.forward_flops : phase_roofline.backward_flops) += s.count * s.Flops();
  }
  const double roofline = gemm_flops / roofline_seconds / 1e9;
  const double backend_roofline =
      StepRoofline(gemms, gemm_rates, [](const GemmRates& r) { return r.backend(); }).first;
  std::printf("  GEMM flops per step %.4f G (StepFlops %.4f G)\n", gemm_flops / 1e9,
              step_flops / 1e9);
  PrintRooflines(gemms, gemm_rates);
  std::printf(
      "  achieved %.2f GFLOP/s = %.1f%% of the machine's best sgemm measured here (goal 90%%); "
      "%.1f%% of this core's backend\n",
      achieved, 100.0 * achieved / roofline, 100.0 * achieved / backend_roofline);
  const double achieved_median = step_flops / Median(all_steps) / 1e9;
  std::printf(
      "  by 1 / median step time: %.2f GFLOP/s = %.1f%% of the machine's best sgemm measured "
      "here\n",
      achieved_median, 100.0 * achieved_median / roofline);
  if (peak_fma > 0) {
    std::printf(
        "  this core's peak FMA rate (12 independent chains of vector FMAs, nothing loaded): "
        "%.2f GFLOP/s; the roofline is %.1f%% of it, the training %.1f%%\n",
        peak_fma, 100.0 * roofline / peak_fma, 100.0 * achieved / peak_fma);
  }

  std::printf(
      "\n-- where the time goes: the trainer's step rebuilt with a StepProfile, %d steps per "
      "path (median, min and mean per step)\n",
      o.steps);
  const bool same_computation =
      fused_phases.hash == hashes[0] && reference_phases.hash == hashes[0];
  std::printf("  trajectory hashes equal the trainer's: %s\n", same_computation ? "yes" : "NO");
  PrintBreakdown(fused_phases, reference_phases, phase_roofline, Median(eval_seconds),
                 roofline_seconds, step_order_gemm_seconds);
  std::printf("  load average at end: %s\n", LoadAverage().c_str());

  // --- PyTorch.
  std::printf("\n-- PyTorch: %s\n", ABLATE_TORCH_SCRIPT);
  if (!o.torch) {
    std::printf("  skipped (--no-torch)\n");
    return 0;
  }
  std::vector<std::string> tried;
  const std::optional<std::string> python = FindTorchPython(tried);
  if (!python) {
    std::string list;
    for (const std::string& p : tried) list += (list.empty() ? "" : ", ") + p;
    std::printf(
        "  skipped the comparison: no python that can 'import torch' (tried %s; set "
        "ABLATE_BENCH_PYTHON)\n",
        list.c_str());
    return 0;
  }
  std::printf("  python: %s\n", python->c_str());
  const auto values = RunTorchScript(*python, o);
  auto ratio = [&](const char* key, double ablate_rate, const char* what) {
    const auto it = values.find(key);
    if (it == values.end()) {
      std::printf("  no '%s' from torch_lab.py: no ratio\n", key);
      return;
    }
    const double torch_rate = std::strtod(it->second.c_str(), nullptr);
    std::printf("  Ablate / PyTorch = %.1f / %.1f steps/s = %.2fx  (%s)\n", ablate_rate, torch_rate,
                ablate_rate / torch_rate, what);
  };
  std::printf("  goal: >= 1.00x; standing goal 1.25x\n");
  ratio("torch_steps_per_s_best", best_rate, "best totals; PyTorch: the lab loop");
  ratio("torch_gradnorm_steps_per_s_best", best_rate,
        "best totals; PyTorch: lab loop + weight-grad norm, the work of Ablate's step");
  ratio("torch_steps_per_s_median_step", 1.0 / Median(all_steps),
        "1 / median step time; PyTorch: the lab loop");
  return 0;
}
