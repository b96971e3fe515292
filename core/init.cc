#include "core/init.h"

#include <Eigen/QR>
#include <algorithm>
#include <array>
#include <cmath>

namespace ablate::core {

namespace {

void FillUniform(Matrix& w, float low, float high, Rng& rng) {
  for (Eigen::Index r = 0; r < w.rows(); ++r)
    for (Eigen::Index c = 0; c < w.cols(); ++c) w(r, c) = rng.Uniform(low, high);
}

void FillNormal(Matrix& w, double variance, Rng& rng) {
  const auto stddev = static_cast<float>(std::sqrt(variance));
  for (Eigen::Index r = 0; r < w.rows(); ++r)
    for (Eigen::Index c = 0; c < w.cols(); ++c) w(r, c) = stddev * rng.Normal();
}

int FanIn(const Matrix& w) { return static_cast<int>(w.cols()); }
int FanOut(const Matrix& w) { return static_cast<int>(w.rows()); }

double UniformVariance(int, int, const InitConfig& init) {
  const double width = init.uniform_high - init.uniform_low;
  return width * width / 12.0;
}

double XavierNormalVariance(int fan_in, int, const InitConfig&) { return 1.0 / fan_in; }
double KaimingNormalVariance(int fan_in, int, const InitConfig&) { return 2.0 / fan_in; }
double XavierUniformVariance(int fan_in, int fan_out, const InitConfig&) {
  return 2.0 / (fan_in + fan_out);
}
double OrthogonalVariance(int fan_in, int fan_out, const InitConfig&) {
  return 1.0 / std::max(fan_in, fan_out);
}

// A uniform distribution U[-a, a] has variance a²/3, so a = sqrt(3·variance).
float UniformBoundFor(double variance) { return static_cast<float>(std::sqrt(3.0 * variance)); }

// Saxe et al. 2014, as torch.nn.init.orthogonal_: QR of a Gaussian matrix, with the signs of
// R's diagonal folded into Q so that the result is uniformly distributed (Mezzadri 2007).
void FillOrthogonal(Matrix& w, const InitConfig&, Rng& rng) {
  const bool wide = w.cols() > w.rows();
  Matrix gaussian(wide ? w.cols() : w.rows(), wide ? w.rows() : w.cols());
  FillNormal(gaussian, 1.0, rng);
  Eigen::HouseholderQR<Matrix> qr(gaussian);
  Matrix q = qr.householderQ() * Matrix::Identity(gaussian.rows(), gaussian.cols());
  const Matrix r = qr.matrixQR().topRows(gaussian.cols()).triangularView<Eigen::Upper>();
  for (Eigen::Index c = 0; c < q.cols(); ++c) {
    if (r(c, c) < 0) q.col(c) *= -1.0f;
  }
  w = wide ? Matrix(q.transpose()) : q;
}

// The registry. Each scheme cites where it comes from; the lab's "xavier" is the fan-in form
// N(0, 1/n_in), which Glorot & Bengio's analysis gives for the forward pass alone.
constexpr std::array kSchemes = {
    InitScheme{
        "uniform", "U[low, high], default U[-0.5, 0.5]",
        "a fixed-range uniform draw, independent of layer size (the lab's bad init)",
        UniformVariance,
        [](Matrix& w, const InitConfig& init, Rng& rng) {
          FillUniform(w, static_cast<float>(init.uniform_low),
                      static_cast<float>(init.uniform_high), rng);
        }},
    InitScheme{"xavier", "N(0, 1/n_in)",
               "Glorot & Bengio, Understanding the difficulty of training deep feedforward "
               "neural networks, AISTATS 2010 (fan-in form)",
               XavierNormalVariance,
               [](Matrix& w, const InitConfig& init, Rng& rng) {
                 FillNormal(w, XavierNormalVariance(FanIn(w), FanOut(w), init), rng);
               }},
    InitScheme{"kaiming", "N(0, 2/n_in)",
               "He, Zhang, Ren & Sun, Delving Deep into Rectifiers, ICCV 2015",
               KaimingNormalVariance,
               [](Matrix& w, const InitConfig& init, Rng& rng) {
                 FillNormal(w, KaimingNormalVariance(FanIn(w), FanOut(w), init), rng);
               }},
    InitScheme{"xavier_uniform", "U[-a, a], a = sqrt(6/(n_in + n_out))",
               "Glorot & Bengio, AISTATS 2010, eq. 16", XavierUniformVariance,
               [](Matrix& w, const InitConfig& init, Rng& rng) {
                 const float a =
                     UniformBoundFor(XavierUniformVariance(FanIn(w), FanOut(w), init));
                 FillUniform(w, -a, a, rng);
               }},
    InitScheme{"kaiming_uniform", "U[-a, a], a = sqrt(6/n_in)",
               "He, Zhang, Ren & Sun, ICCV 2015 (uniform form)", KaimingNormalVariance,
               [](Matrix& w, const InitConfig& init, Rng& rng) {
                 const float a =
                     UniformBoundFor(KaimingNormalVariance(FanIn(w), FanOut(w), init));
                 FillUniform(w, -a, a, rng);
               }},
    InitScheme{"orthogonal", "a random orthogonal matrix (gain 1)",
               "Saxe, McClelland & Ganguli, Exact solutions to the nonlinear dynamics of "
               "learning in deep linear neural networks, ICLR 2014",
               OrthogonalVariance, FillOrthogonal},
};

}  // namespace

std::span<const InitScheme> InitSchemes() { return kSchemes; }

const InitScheme* FindInitScheme(std::string_view name) {
  for (const InitScheme& scheme : kSchemes) {
    if (scheme.name == name) return &scheme;
  }
  return nullptr;
}

double ReluVarianceGain(const InitScheme& scheme, int fan_in, int fan_out,
                        const InitConfig& init) {
  return fan_in * scheme.variance(fan_in, fan_out, init) / 2.0;
}

}  // namespace ablate::core
