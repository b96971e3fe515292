#include "core/gemm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#if defined(__AVX512F__) && !defined(EIGEN_USE_BLAS)
#define ABLATE_GEMM_AVX512 1
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_ps(), which it reports
// as used uninitialized once inlined (GCC bug 105593): a false alarm, off for this file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace ablate::core::gemm {

namespace {

using Index = Eigen::Index;

// An operand read element by element: (row, col) is at data[row·row_step + col·col_step], so a
// transposed operand is the same memory with the steps swapped.
struct Operand {
  const float* data;
  Index row_step, col_step;
  float operator()(Index row, Index col) const { return data[row * row_step + col * col_step]; }
};

Operand Plain(const In& m) { return {m.data(), 1, m.outerStride()}; }
Operand Transposed(const In& m) { return {m.data(), m.outerStride(), 1}; }

// The definition: c(i, j) = fma(a(i, p), b(p, j), c(i, j)) for p = 0 … k−1, from +0. The loop
// runs p outside i so that the compiler can vectorise over i; each element's chain is unchanged.
void PlainLoop(Operand a, Operand b, Index k, Out c) {
  for (Index j = 0; j < c.cols(); ++j) {
    float* column = c.data() + j * c.outerStride();
    std::fill(column, column + c.rows(), 0.0f);
    for (Index p = 0; p < k; ++p) {
      const float bpj = b(p, j);
      for (Index i = 0; i < c.rows(); ++i) column[i] = std::fma(a(i, p), bpj, column[i]);
    }
  }
}

#ifdef ABLATE_GEMM_AVX512

// The kernel computes a tile of up to kTileRows × kTileCols of c in 2 × kTileCols vector
// registers: per p, two vectors of a's column and kTileCols broadcasts of b's row.
constexpr int kTileRows = 32;
constexpr int kTileCols = 8;

// The lanes of a 16-float vector that hold one of `rows` rows (none when rows ≤ 0).
__mmask16 RowMask(Index rows) {
  if (rows <= 0) return 0;
  return rows >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << rows) - 1);
}

// How b is laid out for the kernel: b(p, j) is b[p + j·ldb] (kColumns: b as stored) or
// b[p·ldb + j] (kRows: b transposed). Fixed at compile time, so that each broadcast's address
// is one register plus a constant or a scaled register.
enum class BLayout { kColumns, kRows };

// What happens to a tile of c once its chains are finished, before it is stored: a functor
// taking the vector of 16 rows from `row` of column `col` (the lanes in `mask` hold rows of c)
// and returning what c gets there. Each applies, per element, exactly the operations of the
// pass it replaces (gemm.h).
struct StoreAsIs {
  __m512 operator()(__m512 acc, Index, Index, __mmask16) const { return acc; }
};

// max(acc + bias[row], +0): _mm512_max_ps(+0, x) returns x when x is NaN (the second operand
// of an unordered comparison) and for x = −0, as std::max(x, 0.0f) does. (Which NaN a sum of
// two NaNs gives is the compiler's choice of operand order, here as in Eigen's code.)
struct AddBiasRelu {
  const float* bias;
  __m512 operator()(__m512 acc, Index row, Index, __mmask16 mask) const {
    const __m512 sum = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mask, bias + row));
    return _mm512_max_ps(_mm512_setzero_ps(), sum);
  }
};

// acc where gate(row, col) > 0, else +0 (false for a NaN gate, as Eigen's select).
struct Gate {
  const float* gate;
  Index ldg;
  __m512 operator()(__m512 acc, Index row, Index col, __mmask16 mask) const {
    const __m512 g = _mm512_maskz_loadu_ps(mask, gate + row + col * ldg);
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_GT_OQ), acc);
  }
};

// c's tile (rows × kCols at c, column stride ldc; its first element is c(row, col)) =
// Σ_p a_p · b(p, ·), where a_p is the rows floats at a + p·a_step. With `resume` the chains
// start from the tile's current values instead of +0: a chain continued, the same bits as one
// chain. With `finish` they end here, and `finished` decides what is stored.
template <int kVectors, int kCols, BLayout kLayout, typename Finished>
void Tile(Index k, const float* a, Index a_step, const float* b, Index ldb, float* c, Index ldc,
          Index row, Index col, Index rows, bool resume, bool finish, const Finished& finished) {
  const __mmask16 mask0 = RowMask(rows), mask1 = RowMask(rows - 16);
  // One array per vector row, every loop over j unrolled: GCC then keeps each accumulator in a
  // register through the loop (a two-dimensional array indexed by an array of masks stayed in
  // memory, with a store per multiply-add).
  __m512 acc0[kCols], acc1[kCols];
#pragma GCC unroll 8
  for (int j = 0; j < kCols; ++j) {
    acc0[j] = resume ? _mm512_maskz_loadu_ps(mask0, c + j * ldc) : _mm512_setzero_ps();
    if constexpr (kVectors == 2) {
      acc1[j] = resume ? _mm512_maskz_loadu_ps(mask1, c + j * ldc + 16) : _mm512_setzero_ps();
    }
  }
  for (Index p = 0; p < k; ++p, a += a_step) {
    const __m512 column0 = _mm512_maskz_loadu_ps(mask0, a);
    const __m512 column1 = kVectors == 2 ? _mm512_maskz_loadu_ps(mask1, a + 16) : column0;
#pragma GCC unroll 8
    for (int j = 0; j < kCols; ++j) {
      const __m512 bpj = _mm512_set1_ps(kLayout == BLayout::kColumns ? b[p + j * ldb]
                                                                        : b[p * ldb + j]);
      acc0[j] = _mm512_fmadd_ps(column0, bpj, acc0[j]);
      if constexpr (kVectors == 2) acc1[j] = _mm512_fmadd_ps(column1, bpj, acc1[j]);
    }
  }
  if (finish) {
#pragma GCC unroll 8
    for (int j = 0; j < kCols; ++j) {
      acc0[j] = finished(acc0[j], row, col + j, mask0);
      if constexpr (kVectors == 2) acc1[j] = finished(acc1[j], row + 16, col + j, mask1);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < kCols; ++j) {
    _mm512_mask_storeu_ps(c + j * ldc, mask0, acc0[j]);
    if constexpr (kVectors == 2) _mm512_mask_storeu_ps(c + j * ldc + 16, mask1, acc1[j]);
  }
}

// One tile, dispatched on its column count (1 … kTileCols) and on whether one vector holds it.
template <typename Finished>
using TileFn = void (*)(Index, const float*, Index, const float*, Index, float*, Index, Index,
                        Index, Index, bool, bool, const Finished&);

template <int kVectors, BLayout kLayout, typename Finished, int... kCols>
constexpr std::array<TileFn<Finished>, sizeof...(kCols)> Tiles(
    std::integer_sequence<int, kCols...>) {
  return {&Tile<kVectors, kCols + 1, kLayout, Finished>...};
}

template <BLayout kLayout, typename Finished>
void RunTile(Index k, const float* a, Index a_step, const float* b, Index ldb, float* c,
             Index ldc, Index row, Index col, Index rows, Index cols, bool resume, bool finish,
             const Finished& finished) {
  static constexpr auto kOne =
      Tiles<1, kLayout, Finished>(std::make_integer_sequence<int, kTileCols>());
  static constexpr auto kTwo =
      Tiles<2, kLayout, Finished>(std::make_integer_sequence<int, kTileCols>());
  (rows <= 16 ? kOne : kTwo)[cols - 1](k, a, a_step, b, ldb, c, ldc, row, col, rows, resume,
                                       finish, finished);
}

// dst[q·kTileRows + r] = src[q + r·lds] for r, q < 16: a 16 × 16 block transposed in registers,
// into a panel of kTileRows floats per p.
void Transpose16(const float* src, Index lds, float* dst) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  // Within each 128-bit lane, 4 × 4 transposes.
  for (int g = 0; g < 4; ++g) {
    const __m512 lo01 = _mm512_unpacklo_ps(r[4 * g], r[4 * g + 1]);
    const __m512 hi01 = _mm512_unpackhi_ps(r[4 * g], r[4 * g + 1]);
    const __m512 lo23 = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]);
    const __m512 hi23 = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
    auto pd = [](__m512 x) { return _mm512_castps_pd(x); };
    t[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(lo01), pd(lo23)));
    t[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(lo01), pd(lo23)));
    t[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(hi01), pd(hi23)));
    t[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(hi01), pd(hi23)));
  }
  // t[4g + x], lane L, holds rows 4g … 4g+3 of column 4L + x; gather the four groups' lanes.
  for (int x = 0; x < 4; ++x) {
    const __m512 even01 = _mm512_shuffle_f32x4(t[x], t[4 + x], 0x88);
    const __m512 odd01 = _mm512_shuffle_f32x4(t[x], t[4 + x], 0xDD);
    const __m512 even23 = _mm512_shuffle_f32x4(t[8 + x], t[12 + x], 0x88);
    const __m512 odd23 = _mm512_shuffle_f32x4(t[8 + x], t[12 + x], 0xDD);
    _mm512_storeu_ps(dst + (0 + x) * kTileRows, _mm512_shuffle_f32x4(even01, even23, 0x88));
    _mm512_storeu_ps(dst + (8 + x) * kTileRows, _mm512_shuffle_f32x4(even01, even23, 0xDD));
    _mm512_storeu_ps(dst + (4 + x) * kTileRows, _mm512_shuffle_f32x4(odd01, odd23, 0x88));
    _mm512_storeu_ps(dst + (12 + x) * kTileRows, _mm512_shuffle_f32x4(odd01, odd23, 0xDD));
  }
}

// The driver. c's rows are taken in bands of kTileRows and the inner dimension in blocks of
// kPanelDepth; for each band and block, `panel_of` gives a's rows as a panel (a(i + r, p0 + p)
// at panel[p·step + r]) and every column tile of c continues its chains through it. A block at
// a time keeps the panel (32 KiB) in L1 and its pages few; chains continued from one block to
// the next give the same bits as one chain. While the tiles of one panel run, `prefetch` asks
// for the next panel's source (a's next block of this band, or of the next band) a share per
// tile, so that it is in L2 when its turn comes: in a training step each layer's weights come
// from L3, and interleaved runs of tests/bench/bench_core put the step's products 1-2 points of
// the roofline faster with it.
constexpr Index kPanelDepth = 256;

struct Panel {
  const float* data;
  Index step;  // floats from one p to the next
};

template <BLayout kLayout, typename PanelOf, typename Prefetch, typename Finished>
void Blocked(Index k, PanelOf panel_of, Prefetch prefetch, const float* b, Index ldb, Out c,
             const Finished& finished) {
  const Index m = c.rows(), n = c.cols(), ldc = c.outerStride();
  if (k == 0) {  // empty chains: +0, then what the tiles would store
    for (Index j = 0; j < n; ++j) {
      for (Index i = 0; i < m; i += 16) {
        const __mmask16 mask = RowMask(m - i);
        _mm512_mask_storeu_ps(c.data() + i + j * ldc, mask,
                              finished(_mm512_setzero_ps(), i, j, mask));
      }
    }
    return;
  }
  for (Index i = 0; i < m; i += kTileRows) {
    const Index rows = std::min<Index>(kTileRows, m - i);
    for (Index p0 = 0; p0 < k; p0 += kPanelDepth) {
      const Index depth = std::min<Index>(kPanelDepth, k - p0);
      const Panel panel = panel_of(i, rows, p0, depth);
      const Index tiles = (n + kTileCols - 1) / kTileCols;
      const bool next_band = p0 + depth == k;
      const Index next_i = next_band ? i + kTileRows : i, next_p0 = next_band ? 0 : p0 + depth;
      const Index next_depth = std::min<Index>(kPanelDepth, k - next_p0);
      for (Index j = 0; j < n; j += kTileCols) {
        if (next_i < m) prefetch(next_i, next_p0, next_depth, j / kTileCols, tiles);
        const float* b_block = b + (kLayout == BLayout::kColumns ? p0 + j * ldb : p0 * ldb + j);
        RunTile<kLayout>(depth, panel.data, panel.step, b_block, ldb, c.data() + i + j * ldc,
                         ldc, i, j, rows, std::min<Index>(kTileCols, n - j),
                         /*resume=*/p0 > 0, /*finish=*/p0 + depth == k, finished);
      }
    }
  }
}

// c = a · op(b), a's columns contiguous. When the inner dimension fits one block, the tiles
// read a where it lies (a band's columns are 128-byte runs, reused from L1/L2 by every column
// tile); longer, each block of a band is first copied into a contiguous panel, or the band's
// runs, one per column of a, would be spread over more pages than the TLB holds.
template <BLayout kLayout, typename Finished = StoreAsIs>
void KernelPlainA(const In& a, const In& b, Out c, const Finished& finished = {}) {
  alignas(64) float buffer[kPanelDepth * kTileRows];
  const Index lda = a.outerStride();
  const bool copy = a.cols() > kPanelDepth;
  Blocked<kLayout>(
      a.cols(),
      [&](Index i, Index rows, Index p0, Index depth) {
        const float* src = a.data() + i + p0 * lda;  // a(i, p0)
        if (!copy) return Panel{src, lda};
        for (Index p = 0; p < depth; ++p) {
          std::copy(src + p * lda, src + p * lda + rows, buffer + p * kTileRows);
        }
        return Panel{buffer, kTileRows};
      },
      [&](Index i, Index p0, Index depth, Index part, Index parts) {  // the band's 128-byte runs
        const float* src = a.data() + i + p0 * lda;
        for (Index p = depth * part / parts; p < depth * (part + 1) / parts; ++p) {
          _mm_prefetch(reinterpret_cast<const char*>(src + p * lda), _MM_HINT_T1);
          _mm_prefetch(reinterpret_cast<const char*>(src + p * lda + 16), _MM_HINT_T1);
        }
      },
      b.data(), b.outerStride(), c, finished);
}

// c = aᵀ · b. aᵀ's rows are strided in memory, so each block of a band is copied into a panel
// where they are contiguous (panel[p·kTileRows + r] = a(p0 + p, i + r)), 16 × 16 at a time.
template <typename Finished = StoreAsIs>
void KernelTransposedA(const In& a, const In& b, Out c, const Finished& finished = {}) {
  alignas(64) float buffer[kPanelDepth * kTileRows];
  const Index lda = a.outerStride();
  Blocked<BLayout::kColumns>(
      a.rows(),
      [&](Index i, Index rows, Index p0, Index depth) {
        const float* src = a.data() + p0 + i * lda;  // a(p0, i)
        Index p = 0;
        for (; rows == kTileRows && p + 16 <= depth; p += 16) {
          Transpose16(src + p, lda, buffer + p * kTileRows);
          Transpose16(src + p + 16 * lda, lda, buffer + p * kTileRows + 16);
        }
        for (; p < depth; ++p) {
          for (Index r = 0; r < rows; ++r) buffer[p * kTileRows + r] = src[p + r * lda];
        }
        return Panel{buffer, kTileRows};
      },
      [&](Index i, Index p0, Index depth, Index part, Index parts) {  // the columns it transposes
        for (Index r = kTileRows * part / parts; r < kTileRows * (part + 1) / parts; ++r) {
          const float* src = a.data() + p0 + (i + r) * lda;
          for (Index p = 0; p < depth; p += 16) {
            _mm_prefetch(reinterpret_cast<const char*>(src + p), _MM_HINT_T1);
          }
        }
      },
      b.data(), b.outerStride(), c, finished);
}

#endif  // ABLATE_GEMM_AVX512

// The shapes, checked in every build: a wrong one would write outside c.
void CheckShapes(Index a_rows, Index a_cols, Index b_rows, Index b_cols, const Out& c) {
  if (a_cols != b_rows || c.rows() != a_rows || c.cols() != b_cols) {
    throw std::logic_error("gemm: (" + std::to_string(a_rows) + " x " + std::to_string(a_cols) +
                           ") times (" + std::to_string(b_rows) + " x " +
                           std::to_string(b_cols) + ") into (" + std::to_string(c.rows()) +
                           " x " + std::to_string(c.cols()) + ")");
  }
}

}  // namespace

void PlainProduct(const In& a, const In& b, Out c) {
  CheckShapes(a.rows(), a.cols(), b.rows(), b.cols(), c);
  PlainLoop(Plain(a), Plain(b), a.cols(), c);
}

void PlainProductTransposedB(const In& a, const In& b, Out c) {
  CheckShapes(a.rows(), a.cols(), b.cols(), b.rows(), c);
  PlainLoop(Plain(a), Transposed(b), a.cols(), c);
}

void PlainProductTransposedA(const In& a, const In& b, Out c) {
  CheckShapes(a.cols(), a.rows(), b.rows(), b.cols(), c);
  PlainLoop(Transposed(a), Plain(b), a.rows(), c);
}

// The products as each build runs them, their shapes already checked.
namespace {

#ifdef ABLATE_GEMM_AVX512

void RunProduct(const In& a, const In& b, Out c) { KernelPlainA<BLayout::kColumns>(a, b, c); }
void RunProductTransposedB(const In& a, const In& b, Out c) {
  KernelPlainA<BLayout::kRows>(a, b, c);
}
void RunProductTransposedA(const In& a, const In& b, Out c) { KernelTransposedA(a, b, c); }
void RunProductAddBiasRelu(const In& a, const In& b, const float* bias, Out c) {
  KernelPlainA<BLayout::kColumns>(a, b, c, AddBiasRelu{bias});
}
void RunProductTransposedAGated(const In& a, const In& b, const In& gate, Out c) {
  KernelTransposedA(a, b, c, Gate{gate.data(), gate.outerStride()});
}
constexpr bool kFollowsTheDefinition = true;
constexpr const char* kDescription =
    "the core's AVX-512 GEMM kernel (one FMA chain per element, core/gemm.h)";

#else  // Eigen's products: its own kernels, or the BLAS with EIGEN_USE_BLAS

void RunProduct(const In& a, const In& b, Out c) { c.noalias() = a * b; }
void RunProductTransposedB(const In& a, const In& b, Out c) { c.noalias() = a * b.transpose(); }
void RunProductTransposedA(const In& a, const In& b, Out c) { c.noalias() = a.transpose() * b; }
// The product, then the pass, as the reference step runs them (core/model.cc).
void RunProductAddBiasRelu(const In& a, const In& b, const float* bias, Out c) {
  RunProduct(a, b, c);
  const Eigen::Map<const Vector> bias_vector(bias, c.rows());
  for (Index j = 0; j < c.cols(); ++j) c.col(j) = (c.col(j) + bias_vector).cwiseMax(0.0f);
}
void RunProductTransposedAGated(const In& a, const In& b, const In& gate, Out c) {
  RunProductTransposedA(a, b, c);
  c = (gate.array() > 0.0f).select(c, 0.0f);
}
constexpr bool kFollowsTheDefinition = false;
#ifdef EIGEN_USE_BLAS
constexpr const char* kDescription = "the BLAS, through Eigen (EIGEN_USE_BLAS)";
#else
constexpr const char* kDescription = "Eigen's own kernels (this build targets no AVX-512)";
#endif

#endif

}  // namespace

void Product(const In& a, const In& b, Out c) {
  CheckShapes(a.rows(), a.cols(), b.rows(), b.cols(), c);
  RunProduct(a, b, c);
}
void ProductTransposedB(const In& a, const In& b, Out c) {
  CheckShapes(a.rows(), a.cols(), b.cols(), b.rows(), c);
  RunProductTransposedB(a, b, c);
}
void ProductTransposedA(const In& a, const In& b, Out c) {
  CheckShapes(a.cols(), a.rows(), b.rows(), b.cols(), c);
  RunProductTransposedA(a, b, c);
}
void ProductAddBiasRelu(const In& a, const In& b, const Eigen::Ref<const Vector>& bias, Out c) {
  CheckShapes(a.rows(), a.cols(), b.rows(), b.cols(), c);
  if (bias.size() != c.rows()) {
    throw std::logic_error("gemm: a bias of " + std::to_string(bias.size()) + " for " +
                           std::to_string(c.rows()) + " rows");
  }
  RunProductAddBiasRelu(a, b, bias.data(), c);
}
void ProductTransposedAGated(const In& a, const In& b, const In& gate, Out c) {
  CheckShapes(a.cols(), a.rows(), b.rows(), b.cols(), c);
  if (gate.rows() != c.rows() || gate.cols() != c.cols()) {
    throw std::logic_error("gemm: a gate of (" + std::to_string(gate.rows()) + " x " +
                           std::to_string(gate.cols()) + ") for (" + std::to_string(c.rows()) +
                           " x " + std::to_string(c.cols()) + ")");
  }
  RunProductTransposedAGated(a, b, gate, c);
}
bool ProductsFollowTheDefinition() { return kFollowsTheDefinition; }
const char* KernelDescription() { return kDescription; }

}  // namespace ablate::core::gemm
