// Tests of server/artifacts/plot.h: the figure's size, colours, markers, clipping and scale.
#include "server/artifacts/plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/artifacts/figure_style.h"
#include "server/artifacts/init_colors.h"
#include "server/artifacts/plot_layout.h"
#include "server/artifacts/plplot_canvas.h"
#include "tests/server/artifacts/png_reader.h"
#include "tests/server/artifacts/test_jobs.h"

namespace ablate::artifacts {
namespace {

using testing::CountColor;
using testing::Decay;
using testing::DecodePng;
using testing::Image;
using testing::PngSize;
using testing::ThenNaN;

const uint32_t kUniformColor = InitColor("uniform");
const uint32_t kXavierColor = InitColor("xavier");
const uint32_t kKaimingColor = InitColor("kaiming");

PlotSeries Series(std::string name, std::vector<float> losses, uint32_t rgb) {
  PlotSeries s;
  s.label = name + " (legend text)";
  s.name = std::move(name);
  s.losses = std::move(losses);
  for (size_t i = 0; i < s.losses.size(); ++i) {
    if (!std::isfinite(s.losses[i])) {
      s.first_nonfinite_step = static_cast<int>(i);
      break;
    }
  }
  s.rgb = rgb;
  return s;
}

// Lab 1 in miniature over 60 steps: uniform at 1e12 and 2e12, then NaN at step 2; xavier
// crawling down from chance; kaiming falling to 0.02.
PlotInput LabInput(int steps = 60) {
  PlotInput input;
  input.title = "Init ablation — job 7";
  input.subtitle = "12-layer ReLU MLP, width 256";
  input.steps = steps;
  input.chance = std::log(2.0);
  input.chance_label = "chance (ln 2)";
  input.series.push_back(Series("uniform", ThenNaN({1e12f, 2e12f}), kUniformColor));
  input.series.push_back(Series("xavier", Decay(steps, 0.693f, 0.6f), kXavierColor));
  input.series.push_back(Series("kaiming", Decay(steps, 0.693f, 0.02f), kKaimingColor));
  return input;
}

// Rows [top, bottom) of the lower part of the axes, below the annotations' band.
std::pair<int, int> RowsBelowBand(const PlotLayout& layout) {
  const double height = layout.box_bottom - layout.box_top;
  return {static_cast<int>(layout.box_top + (layout.band + 0.05) * height),
          static_cast<int>(layout.box_bottom) - 2};
}

// --- Long runs: curves thinned to the figure's resolution ---------------------------------

TEST(ThinPolylineTest, LeavesALineOfUpToFourPointsPerColumnAsItIs) {
  std::vector<double> xs, ys;
  for (int k = 0; k < 4 * 100; ++k) {
    xs.push_back(k);
    ys.push_back(std::sin(k));
  }
  const std::vector<double> x0 = xs, y0 = ys;
  figure::ThinPolyline(xs, ys, 0, 400, 100);
  EXPECT_EQ(xs, x0);
  EXPECT_EQ(ys, y0);
}

TEST(ThinPolylineTest, KeepsEachColumnsEndsAndExtremesInOrder) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 1);
  constexpr int kColumns = 50, kPoints = 20000;
  std::vector<double> xs, ys;
  for (int k = 0; k < kPoints; ++k) {
    xs.push_back(k);
    ys.push_back(noise(rng) + (k == 12345 ? 40 : 0));  // one spike, which must survive
  }
  const std::vector<double> x0 = xs, y0 = ys;
  figure::ThinPolyline(xs, ys, 0, kPoints, kColumns);
  ASSERT_EQ(xs.size(), ys.size());
  EXPECT_LE(xs.size(), size_t{4} * kColumns);
  EXPECT_EQ(xs.front(), x0.front());
  EXPECT_EQ(xs.back(), x0.back());
  EXPECT_TRUE(std::is_sorted(xs.begin(), xs.end()));
  // Every kept point is one of the line's, and each column keeps its lowest and highest y and
  // its first and last points.
  std::map<int, std::pair<double, double>> kept_range, full_range;
  std::map<int, std::pair<double, double>> kept_ends, full_ends;
  const auto column = [&](double x) { return static_cast<int>(x * kColumns / kPoints); };
  for (size_t k = 0; k < xs.size(); ++k) {
    const size_t at = static_cast<size_t>(xs[k]);
    ASSERT_EQ(ys[k], y0[at]);
    auto [it, fresh] = kept_range.try_emplace(column(xs[k]), ys[k], ys[k]);
    it->second = {std::min(it->second.first, ys[k]), std::max(it->second.second, ys[k])};
    auto [end, first] = kept_ends.try_emplace(column(xs[k]), xs[k], xs[k]);
    end->second.second = xs[k];
  }
  for (size_t k = 0; k < x0.size(); ++k) {
    auto [it, fresh] = full_range.try_emplace(column(x0[k]), y0[k], y0[k]);
    it->second = {std::min(it->second.first, y0[k]), std::max(it->second.second, y0[k])};
    auto [end, first] = full_ends.try_emplace(column(x0[k]), x0[k], x0[k]);
    end->second.second = x0[k];
  }
  EXPECT_EQ(kept_range, full_range);
  EXPECT_EQ(kept_ends, full_ends);
  EXPECT_NE(std::find(ys.begin(), ys.end(), y0[12345]), ys.end());
}

// A cheap job can make long curves: 16 runs of 100,000 steps each validated at every step.
// Drawn point by point, such a figure held the finishing thread (and the deliverables of every
// job behind it) for minutes, and its legend placement sampled billions of points.
TEST(PlotTest, DrawsLongNoisyRunsFromThinnedCurves) {
  constexpr int kSteps = 100000, kRuns = 16;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> noise(0.0f, 1.5f);
  PlotInput input;
  input.title = "Init ablation — job 9";
  input.subtitle = "2-layer ReLU MLP, width 4, batch 1";
  input.steps = kSteps;
  input.chance = std::log(2.0);
  input.chance_label = "chance (ln 2)";
  for (int r = 0; r < kRuns; ++r) {
    std::vector<float> losses(kSteps);
    for (float& loss : losses) loss = noise(rng);
    PlotSeries s = Series("kaiming seed " + std::to_string(r), std::move(losses), kKaimingColor);
    for (int step = 0; step < kSteps; ++step) {
      s.val_steps.push_back(step);
      s.val_losses.push_back(0.6f + 0.1f * noise(rng));
    }
    EXPECT_FALSE(figure::DrawsValidationMarkers(s));
    input.series.push_back(std::move(s));
  }
  const PlotLayout layout = PlanPlot(input, YScale::kLinear);
  EXPECT_LE(figure::CurvePoints(input, layout).size(), figure::kMaxCurvePoints);
  const absl::StatusOr<PlotImage> plot = RenderPlot(input, YScale::kLinear);
  ASSERT_TRUE(plot.ok()) << plot.status();
  const std::optional<Image> image = DecodePng(plot->png);
  ASSERT_TRUE(image.has_value());
  EXPECT_GT(CountColor(*image, kKaimingColor), 10000);
}

// The server's start-up figure (which loads the drawing libraries and fonts) draws.
TEST(PlotTest, WarmUpDrawsAFigure) { EXPECT_TRUE(WarmUpFigures().ok()); }

TEST(PlotTest, IsAPngOfTheStatedSize) {
  for (YScale scale : {YScale::kLinear, YScale::kLog}) {
    const absl::StatusOr<PlotImage> plot = RenderPlot(LabInput(), scale);
    ASSERT_TRUE(plot.ok()) << plot.status();
    const auto size = PngSize(plot->png);
    ASSERT_TRUE(size.has_value()) << "not a PNG";
    EXPECT_EQ(size->first, 1600);
    EXPECT_EQ(size->second, 1000);
    const std::optional<Image> image = DecodePng(plot->png);
    ASSERT_TRUE(image.has_value()) << "libpng cannot decode it";
    EXPECT_EQ(image->width, kPlotWidth);
    EXPECT_EQ(image->height, kPlotHeight);
  }
}

using figure::Box;
using figure::LegendSpot;
using figure::PlaceLegend;

// PlaceLegend as it was written first, one pass over the points per candidate: the reference.
LegendSpot PlaceLegendByEveryCandidate(const std::vector<std::pair<double, double>>& points,
                                       const std::vector<Box>& avoid, double width,
                                       double height) {
  constexpr double kMargin = 0.012;
  constexpr int kSteps = 24;
  LegendSpot best{1 - kMargin - width, 1 - kMargin, std::numeric_limits<long>::max()};
  double best_cost = std::numeric_limits<double>::max();
  for (int i = 0; i <= kSteps; ++i) {
    const double x0 = kMargin + std::max(0.0, 1 - 2 * kMargin - width) * i / kSteps;
    for (int j = 0; j <= kSteps; ++j) {
      const double y1 = 1 - kMargin - std::max(0.0, 1 - 2 * kMargin - height) * j / kSteps;
      const Box box{x0, y1 - height, x0 + width, y1};
      long covered = 0;
      for (const auto& [x, y] : points) covered += box.Contains(x, y);
      double cost = static_cast<double>(covered);
      for (const Box& a : avoid) cost += box.Overlaps(a) ? 1e6 : 0;
      const double edge = std::min(x0, 1 - box.x1) + std::min(box.y0, 1 - y1);
      cost += edge + 0.001 * ((1 - box.x1) + (1 - y1));
      if (cost < best_cost) {
        best_cost = cost;
        best = LegendSpot{x0, y1, covered};
      }
    }
  }
  return best;
}

// The one-sweep count places the legend exactly where one pass per candidate does, with the same
// count, also for points on the candidates' very edges and for a legend as wide as the axes.
TEST(PlaceLegendTest, PlacesAsCountingUnderEveryCandidateDoes) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> unit(-0.1, 1.2);
  for (int trial = 0; trial < 60; ++trial) {
    const double width = trial % 10 == 9 ? 1.0 : 0.05 + 0.4 * (trial % 7) / 6;
    const double height = 0.05 + 0.5 * (trial % 5) / 4;
    std::vector<std::pair<double, double>> points;
    const int n = trial % 4 == 0 ? trial : 3000;
    for (int k = 0; k < n; ++k) points.emplace_back(unit(rng), unit(rng));
    // Points on the candidates' edges and corners.
    for (int i = 0; i <= 24; i += 3) {
      const double x0 = 0.012 + std::max(0.0, 1 - 2 * 0.012 - width) * i / 24;
      const double y1 = 1 - 0.012 - std::max(0.0, 1 - 2 * 0.012 - height) * i / 24;
      points.emplace_back(x0, y1);
      points.emplace_back(x0 + width, y1 - height);
      points.emplace_back(x0, unit(rng));
      points.emplace_back(unit(rng), y1 - height);
    }
    std::vector<Box> avoid;
    if (trial % 3 == 0) avoid.push_back(Box{0.6, 0.7, 1.0, 1.0});
    const LegendSpot fast = PlaceLegend(points, avoid, width, height);
    const LegendSpot reference = PlaceLegendByEveryCandidate(points, avoid, width, height);
    EXPECT_EQ(fast.x0, reference.x0) << "trial " << trial;
    EXPECT_EQ(fast.y1, reference.y1) << "trial " << trial;
    EXPECT_EQ(fast.covered, reference.covered) << "trial " << trial;
  }
}

// CRC-32 as PNG defines it (ISO 3309), bit by bit: independent of the encoder's.
uint32_t Crc32(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

// Every chunk in order with its CRC, IEND last and nothing after it: libpng's decoder reads only
// up to the image data, and other readers check the rest.
TEST(PlotTest, IsAPngWhoseEveryChunkHasItsCrc) {
  const absl::StatusOr<PlotImage> plot = RenderPlot(LabInput(), YScale::kLog);
  ASSERT_TRUE(plot.ok()) << plot.status();
  const std::string_view png = plot->png;
  ASSERT_GE(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string_view("\x89PNG\r\n\x1a\n", 8));
  const auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(png[at + i]);
    return v;
  };
  std::vector<std::string> types;
  size_t at = 8;
  while (at + 12 <= png.size()) {
    const size_t length = u32(at);
    ASSERT_LE(at + 12 + length, png.size()) << "chunk " << types.size() << " runs past the end";
    const std::string_view type_and_data = png.substr(at + 4, 4 + length);
    types.emplace_back(type_and_data.substr(0, 4));
    EXPECT_EQ(u32(at + 8 + length), Crc32(type_and_data)) << "the CRC of " << types.back();
    if (types.back() == "IHDR") {
      ASSERT_EQ(length, 13u);
      EXPECT_EQ(u32(at + 8), static_cast<uint32_t>(kPlotWidth));
      EXPECT_EQ(u32(at + 12), static_cast<uint32_t>(kPlotHeight));
      EXPECT_EQ(png.substr(at + 16, 5), std::string_view("\x08\x02\0\0\0", 5));  // 8-bit RGB
    }
    at += 12 + length;
  }
  EXPECT_EQ(at, png.size()) << "bytes after the last chunk";
  ASSERT_GE(types.size(), 3u);
  EXPECT_EQ(types.front(), "IHDR");
  EXPECT_EQ(types.back(), "IEND");
  for (size_t i = 1; i + 1 < types.size(); ++i) EXPECT_EQ(types[i], "IDAT") << i;
}

// Each channel of `got` within `tolerance` of `want`'s: a pixel on the page's edge, which the
// antialiasing blends a little with the white under it.
bool Near(uint32_t got, uint32_t want, int tolerance) {
  for (int shift = 0; shift <= 16; shift += 8) {
    const int a = static_cast<int>((got >> shift) & 0xFF);
    const int b = static_cast<int>((want >> shift) & 0xFF);
    if (std::abs(a - b) > tolerance) return false;
  }
  return true;
}

// The encoder turns the drawn image into the PNG's rows in place (plplot_canvas.cc), the first
// row's filter byte over its first pixel: every pixel must come out as drawn, the image's
// first and last included, and a second figure on the same thread must start from white.
TEST(PlotCanvasTest, EncodesEveryPixelAsDrawn) {
  // No channel of the first pixel is 0, the filter byte that is written over it.
  const uint32_t red = 0xC02060, blue = 0x3040C0, white = 0xFFFFFF;
  const auto quadrants = [] {
    pladv(0);
    plvpor(0, 1, 0, 1);
    plwind(0, 1, 0, 1);
    PLFLT top_left_x[4] = {0, 0.5, 0.5, 0}, top_left_y[4] = {0.5, 0.5, 1, 1};
    PLFLT bottom_right_x[4] = {0.5, 1, 1, 0.5}, bottom_right_y[4] = {0, 0, 0.5, 0.5};
    plcol0(figure::kFirstRun);
    plfill(4, top_left_x, top_left_y);
    plcol0(figure::kFirstRun + 1);
    plfill(4, bottom_right_x, bottom_right_y);
  };
  const int w = kPlotWidth, h = kPlotHeight;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const absl::StatusOr<std::string> png = figure::DrawPng({red, blue}, quadrants);
    ASSERT_TRUE(png.ok()) << png.status();
    const std::optional<Image> image = DecodePng(*png);
    ASSERT_TRUE(image.has_value());
    const uint32_t first = image->Pixel(0, 0), last = image->Pixel(w - 1, h - 1);
    EXPECT_TRUE(Near(first, red, 8)) << std::hex << first;
    EXPECT_TRUE(Near(last, blue, 8)) << std::hex << last;
    EXPECT_EQ(image->Pixel(w - 1, 0), white);
    EXPECT_EQ(image->Pixel(0, h - 1), white);
    // Each quadrant whole and exact, two pixels left at every edge and seam for antialiasing.
    const int area = (w / 2 - 4) * (h / 2 - 4);
    EXPECT_EQ(CountColor(*image, red, 2, w / 2 - 2, 2, h / 2 - 2), area);
    EXPECT_EQ(CountColor(*image, blue, w / 2 + 2, w - 2, h / 2 + 2, h - 2), area);
    EXPECT_EQ(CountColor(*image, white, w / 2 + 2, w - 2, 2, h / 2 - 2), area);
    EXPECT_EQ(CountColor(*image, white, 2, w / 2 - 2, h / 2 + 2, h - 2), area);
  }
}

TEST(PlotTest, DrawsEachCurveInItsOwnColour) {
  const absl::StatusOr<PlotImage> plot = RenderPlot(LabInput(), YScale::kLinear);
  ASSERT_TRUE(plot.ok()) << plot.status();
  const std::optional<Image> image = DecodePng(plot->png);
  ASSERT_TRUE(image.has_value());
  const PlotLayout& l = plot->layout;
  const auto [top, bottom] = RowsBelowBand(l);
  // Inside the axes, below the band: the two long curves are 3 px wide across most of the
  // 1460 px width; a legend sample alone would be ~70 × 3 px.
  for (uint32_t color : {kXavierColor, kKaimingColor}) {
    EXPECT_GT(CountColor(*image, color, static_cast<int>(l.box_left), static_cast<int>(l.box_right),
                         top, bottom),
              1500)
        << std::hex << color;
  }
  EXPECT_GT(CountColor(*image, kUniformColor), 200);
  // Nothing else in the figure uses a run's colour: an unused palette entry is absent.
  EXPECT_EQ(CountColor(*image, InitColor("orthogonal")), 0);
}

// The pixels of `rgb` in a 13 × 13 window around step `step` and loss `loss` (linear axis).
int ColorNear(const Image& image, const PlotLayout& l, uint32_t rgb, double step, double loss) {
  const int x = static_cast<int>(std::lround(l.XPixel(step)));
  const int y = static_cast<int>(std::lround(
      l.box_bottom - (loss - l.y_lo) / (l.y_hi - l.y_lo) * (l.box_bottom - l.box_top)));
  return CountColor(image, rgb, x - 6, x + 7, y - 6, y + 7);
}

TEST(PlotTest, DrawsValidationInTheRunsColourWhereItWasMeasured) {
  // Kaiming fits its training set (0.02) while its validation loss climbs to 2.
  PlotInput input = LabInput();
  PlotSeries& k = input.series[2];
  for (int step = 10; step <= 60; step += 10) {
    k.val_steps.push_back(step);
    k.val_losses.push_back(0.4f * static_cast<float>(step) / 10);
  }
  const absl::StatusOr<PlotImage> with = RenderPlot(input, YScale::kLinear);
  ASSERT_TRUE(with.ok()) << with.status();
  const std::optional<Image> image = DecodePng(with->png);
  ASSERT_TRUE(image.has_value());
  // The y axis reaches the highest validation loss.
  EXPECT_GE(with->layout.y_max, 2.4 - 1e-6);
  for (size_t i = 0; i < k.val_steps.size(); ++i) {
    EXPECT_GT(ColorNear(*image, with->layout, kKaimingColor, k.val_steps[i], k.val_losses[i]), 0)
        << "validation at step " << k.val_steps[i];
  }
  // Without validation nothing of kaiming's colour is there (the training curve is far below).
  input.series[2].val_steps.clear();
  input.series[2].val_losses.clear();
  input.series[2].losses = Decay(60, 0.693f, 0.02f);
  PlotInput same_range = input;
  same_range.series[1].losses.push_back(2.4f);  // keeps the y axis as tall
  const absl::StatusOr<PlotImage> without = RenderPlot(same_range, YScale::kLinear);
  ASSERT_TRUE(without.ok());
  const std::optional<Image> bare = DecodePng(without->png);
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(ColorNear(*bare, without->layout, kKaimingColor, 40, 1.6), 0);
}

TEST(PlotTest, FillsASeedsBandInAPaleTintUnderItsMedian) {
  PlotInput input = LabInput();
  PlotSeries& k = input.series[2];
  for (float v : k.losses) {
    k.band_low.push_back(0.5f * v);
    k.band_high.push_back(1.5f * v);
  }
  const absl::StatusOr<PlotImage> with = RenderPlot(input, YScale::kLinear);
  ASSERT_TRUE(with.ok()) << with.status();
  const std::optional<Image> image = DecodePng(with->png);
  ASSERT_TRUE(image.has_value());
  // The tint: the colour 78% of the way to white.
  uint32_t tint = 0;
  for (int shift : {16, 8, 0}) {
    const double c = (kKaimingColor >> shift) & 0xff;
    tint |= static_cast<uint32_t>(std::lround(c + (255 - c) * 0.78)) << shift;
  }
  EXPECT_GT(CountColor(*image, tint), 2000);
  // Just above the median at step 10 (between it and 1.5×) lies the band.
  const double v = k.losses[10];
  EXPECT_GT(ColorNear(*image, with->layout, tint, 10, 1.25 * v), 0);
  // Without a band, no tint (beyond a few anti-aliased edge pixels that happen to match it).
  input.series[2].band_low.clear();
  input.series[2].band_high.clear();
  const absl::StatusOr<PlotImage> without = RenderPlot(input, YScale::kLinear);
  ASSERT_TRUE(without.ok());
  const std::optional<Image> bare = DecodePng(without->png);
  ASSERT_TRUE(bare.has_value());
  EXPECT_LT(CountColor(*bare, tint), 50);
}

TEST(PlotTest, TheLinearAndLogFiguresDiffer) {
  const absl::StatusOr<PlotImage> linear = RenderPlot(LabInput(), YScale::kLinear);
  const absl::StatusOr<PlotImage> log = RenderPlot(LabInput(), YScale::kLog);
  ASSERT_TRUE(linear.ok() && log.ok());
  EXPECT_NE(linear->png, log->png);
  EXPECT_EQ(linear->layout.scale, YScale::kLinear);
  EXPECT_EQ(log->layout.scale, YScale::kLog);
}

TEST(PlotTest, TheLastXTickFitsInsideTheImage) {
  // The axes end well before the right edge: "60" centred on the last tick fits.
  const absl::StatusOr<PlotImage> plot = RenderPlot(LabInput(), YScale::kLinear);
  ASSERT_TRUE(plot.ok());
  EXPECT_LE(plot->layout.box_right, kPlotWidth - 40);
  const std::optional<Image> image = DecodePng(plot->png);
  ASSERT_TRUE(image.has_value());
  // The rightmost 8 columns are blank (white).
  EXPECT_EQ(CountColor(*image, 0xFFFFFF, kPlotWidth - 8, kPlotWidth, 0, kPlotHeight),
            8 * kPlotHeight);
}

TEST(LayerPlotTest, DrawsEverySeriesAndSkipsWhatALogAxisCannotShow) {
  LayerPlotInput input;
  input.title = "layers";
  input.subtitle = "12 layers";
  LayerSeries exploding{"uniform", kUniformColor, {}, {}};
  LayerSeries vanishing{"xavier", kXavierColor, {}, {}};
  LayerSeries kept{"kaiming", kKaimingColor, {}, {}};
  for (int l = 0; l < 12; ++l) {
    exploding.activation_std.push_back(std::pow(3.3, l + 1));
    exploding.grad_norm.push_back(std::nullopt);  // step 0 was non-finite
    vanishing.activation_std.push_back(std::pow(0.7, l + 1));
    vanishing.grad_norm.push_back(1e-3 * (l + 1));
    kept.activation_std.push_back(1.0);
    kept.grad_norm.push_back(0.1);
  }
  exploding.activation_std[11] = std::numeric_limits<double>::infinity();
  input.series = {exploding, vanishing, kept};
  const absl::StatusOr<std::string> png = RenderLayerStats(input);
  ASSERT_TRUE(png.ok()) << png.status();
  const std::optional<Image> image = DecodePng(*png);
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->width, kPlotWidth);
  for (uint32_t color : {kUniformColor, kXavierColor, kKaimingColor}) {
    EXPECT_GT(CountColor(*image, color), 300) << std::hex << color;
  }
  // The ranges cover the finite values in whole decades.
  EXPECT_EQ(LogRange({0.05, 3, std::numeric_limits<double>::infinity(), 0, -1}),
            (std::pair<double, double>{-2, 1}));
  EXPECT_EQ(LogRange({}), (std::pair<double, double>{-1, 1}));
}

TEST(LayerPlotTest, LabelsEveryDecadeOnlyWhenThereIsRoomForIt) {
  // A 500-pixel panel holds 11 labels.
  EXPECT_EQ(DecadeStep(4, 500), 1);
  EXPECT_EQ(DecadeStep(11, 500), 1);
  EXPECT_EQ(DecadeStep(16, 500), 2);  // depth 24: 10^-4 to 10^12
  EXPECT_EQ(DecadeStep(40, 500), 5);
  EXPECT_EQ(DecadeStep(60, 500), 10);
  EXPECT_EQ(DecadeStep(300, 500), 50);
  EXPECT_EQ(DecadeStep(16, 10), 20);  // no room at all: one label per panel
}

TEST(PlotTest, PutsTheNaNMarkerAtTheFirstNonFiniteStep) {
  const absl::StatusOr<PlotImage> plot = RenderPlot(LabInput(), YScale::kLinear);
  ASSERT_TRUE(plot.ok()) << plot.status();
  const std::optional<Image> image = DecodePng(plot->png);
  ASSERT_TRUE(image.has_value());
  const PlotLayout& l = plot->layout;
  const auto [top, bottom] = RowsBelowBand(l);
  // The dotted vertical line at step 2 runs the height of the axes in uniform's colour; a
  // column at step 30 has none of it.
  const auto column = [&](double step) {
    const int x = static_cast<int>(std::lround(l.XPixel(step)));
    return CountColor(*image, kUniformColor, x - 3, x + 4, top, bottom);
  };
  EXPECT_GT(column(2), (bottom - top) / 4);
  EXPECT_EQ(column(30), 0);
  EXPECT_EQ(column(10), 0);
  ASSERT_EQ(l.annotations.size(), 1u);
  EXPECT_NE(l.annotations[0].find("✕ NaN at step 2"), std::string::npos) << l.annotations[0];
}

TEST(PlotTest, ClipsAHugeLossSoTheOtherCurvesKeepTheirRange) {
  const absl::StatusOr<PlotImage> plot = RenderPlot(LabInput(), YScale::kLinear);
  ASSERT_TRUE(plot.ok()) << plot.status();
  const PlotLayout& l = plot->layout;
  // The axis shows the finite losses of the other runs (up to about 0.7), not 1e12...
  const PlotInput input = LabInput();
  float others_max = 0;
  for (size_t i = 1; i < 3; ++i) {
    for (float v : input.series[i].losses) others_max = std::max(others_max, v);
  }
  EXPECT_DOUBLE_EQ(l.y_max, others_max);
  ASSERT_TRUE(l.clip_at.has_value());
  EXPECT_LT(*l.clip_at, 1.0);
  ASSERT_EQ(l.clipped.size(), 1u);
  EXPECT_EQ(l.clipped[0].name, "uniform");
  EXPECT_EQ(l.clipped[0].points, 2);
  EXPECT_EQ(l.clipped[0].peak_step, 1);
  // ...says so on the figure...
  EXPECT_NE(l.clip_note.find("y clipped at"), std::string::npos) << l.clip_note;
  EXPECT_NE(l.clip_note.find("uniform reached 2e+12 at step 1"), std::string::npos) << l.clip_note;
  EXPECT_NE(l.annotations[0].find("▲ 1e+12 at step 0, 2e+12 at step 1 (off scale)"),
            std::string::npos)
      << l.annotations[0];
  // ...and kaiming's fall from 0.693 to 0.02 spans most of the axes' height in pixels.
  const std::optional<Image> image = DecodePng(plot->png);
  ASSERT_TRUE(image.has_value());
  int first_row = -1, last_row = -1;
  const int x0 = static_cast<int>(l.box_left) + 2, x1 = static_cast<int>(l.box_right) - 2;
  for (int y = static_cast<int>(l.box_top); y < static_cast<int>(l.box_bottom); ++y) {
    if (CountColor(*image, kKaimingColor, x0, x1, y, y + 1) > 0) {
      if (first_row < 0) first_row = y;
      last_row = y;
    }
  }
  EXPECT_GT(last_row - first_row, 0.6 * (l.box_bottom - l.box_top));
}

TEST(PlotTest, ChoosesLogWhenTheLossesSpanMoreThanTwoDecades) {
  std::string reason;
  PlotInput narrow = LabInput();  // 0.02 to 0.7: 1.5 decades
  EXPECT_EQ(ChooseScale(narrow, &reason), YScale::kLinear);
  EXPECT_NE(reason.find(" decades, not more than 2"), std::string::npos) << reason;
  PlotInput wide = LabInput();
  wide.series[2].losses = Decay(60, 0.693f, 0.0005f);  // 3.2 decades
  EXPECT_EQ(ChooseScale(wide, &reason), YScale::kLog);
  EXPECT_NE(reason.find(" decades, more than 2"), std::string::npos) << reason;
  // The outliers do not count: with the 1e12 the span would be 15 decades.
  EXPECT_EQ(PlanPlot(wide, YScale::kLog).clipped.size(), 1u);
}

// On a log axis many decades tall, the padding for the annotations leaves room above the range
// for an outlier: uniform's step-0 loss was drawn, unclipped, while the README's "the plotted
// losses (a to b)" left it out.
TEST(PlotTest, TheStatedRangeNamesAnOutlierThatIsDrawnUnclipped) {
  PlotInput input = LabInput();
  input.series[0] = Series("uniform", ThenNaN({8.0f}), kUniformColor);
  input.series[1].losses = Decay(60, 0.693f, 1e-9f);
  input.series[1].flatline_step = 30;
  input.series[2].losses = Decay(60, 0.693f, 1e-9f);
  const PlotLayout l = PlanPlot(input, YScale::kLog);
  // The premise: 8 is above the counted range, and not clipped.
  ASSERT_GT(8.0, l.y_max);
  ASSERT_TRUE(l.clipped.empty()) << l.clip_note;
  EXPECT_NE(l.reason.find("uniform 8 at step 0"), std::string::npos) << l.reason;
  // Where nothing is drawn outside the range, the sentence is as before.
  EXPECT_EQ(PlanPlot(LabInput(), YScale::kLog).reason.find("besides"), std::string::npos);
}

TEST(PlotTest, SaysNothingAboutClippingWhenNothingIsClipped) {
  PlotInput input = LabInput();
  input.series.erase(input.series.begin());
  const PlotLayout layout = PlanPlot(input, YScale::kLinear);
  EXPECT_FALSE(layout.clip_at.has_value());
  EXPECT_TRUE(layout.clip_note.empty());
  EXPECT_TRUE(layout.clipped.empty());
  const absl::StatusOr<PlotImage> plot = RenderPlot(input, YScale::kLinear);
  ASSERT_TRUE(plot.ok()) << plot.status();
  EXPECT_TRUE(plot->layout.annotations.empty());
}

TEST(PlotTest, AnnotatesAFlatline) {
  PlotInput input = LabInput();
  input.series[0] = Series("uniform", testing::Flat(60, 0.6931472f, 0.0f), kUniformColor);
  input.series[0].flatline_step = 20;
  const absl::StatusOr<PlotImage> plot = RenderPlot(input, YScale::kLinear);
  ASSERT_TRUE(plot.ok()) << plot.status();
  ASSERT_EQ(plot->layout.annotations.size(), 1u);
  EXPECT_NE(plot->layout.annotations[0].find("◆ flatline at chance from step 20"),
            std::string::npos);
}

TEST(PlotTest, HandlesJobsWithNoFiniteLossOrNoRuns) {
  PlotInput input = LabInput();
  input.series = {Series("uniform", {testing::kNaN}, kUniformColor)};
  EXPECT_TRUE(RenderPlot(input, YScale::kLog).ok());
  EXPECT_TRUE(RenderPlot(input, YScale::kLinear).ok());
  input.series.clear();
  EXPECT_TRUE(RenderPlot(input, YScale::kLinear).ok());
}

TEST(PlotTest, IsDeterministicAndSafeToDrawFromSeveralThreads) {
  const PlotInput input = LabInput();
  const absl::StatusOr<PlotImage> reference = RenderPlot(input, YScale::kLog);
  ASSERT_TRUE(reference.ok()) << reference.status();
  std::vector<std::string> pngs(4);
  {
    std::vector<std::jthread> threads;
    for (size_t i = 0; i < pngs.size(); ++i) {
      threads.emplace_back([&, i] {
        absl::StatusOr<PlotImage> plot = RenderPlot(input, YScale::kLog);
        if (plot.ok()) pngs[i] = plot->png;
      });
    }
  }
  for (const std::string& png : pngs) EXPECT_TRUE(png == reference->png);
}

}  // namespace
}  // namespace ablate::artifacts

namespace ablate::artifacts {
namespace {

// Columns [x0, x1) of rows [y0, y1) that hold anything but white.
int InkColumns(const Image& image, int y0, int y1, int* first, int* last) {
  *first = image.width;
  *last = -1;
  int count = 0;
  for (int x = 0; x < image.width; ++x) {
    for (int y = y0; y < y1; ++y) {
      if (image.Pixel(x, y) != 0xFFFFFF) {
        *first = std::min(*first, x);
        *last = std::max(*last, x);
        ++count;
        break;
      }
    }
  }
  return count;
}

// A title, subtitle and note far wider than the page (a job name of 200 characters without
// a space, a seeds title, a long configuration).
const std::string kLongTitle =
    "Init ablation: training and validation loss over seeds (median, band min–max) — job 12 (" +
    std::string(200, 'W') + ")";
const std::string kLongSubtitle =
    "24-layer ReLU MLP, width 256 · SGD lr 0.001, momentum 0.9 · batch 64 · 1000 steps · data "
    "seed 7 · 1000 train examples · weight seeds 1, 2, 3, 4, 5 · data seeds 11, 12, 13, 14, 15";

// Every pixel of the outer `margin` columns is white, and the header's rows hold text.
void ExpectHeaderInside(const std::string& png, int header_rows) {
  const std::optional<Image> image = DecodePng(png);
  ASSERT_TRUE(image.has_value());
  constexpr int kMargin = 6;
  EXPECT_EQ(CountColor(*image, 0xFFFFFF, 0, kMargin, 0, kPlotHeight), kMargin * kPlotHeight);
  EXPECT_EQ(CountColor(*image, 0xFFFFFF, kPlotWidth - kMargin, kPlotWidth, 0, kPlotHeight),
            kMargin * kPlotHeight);
  int first = 0, last = 0;
  EXPECT_GT(InkColumns(*image, 0, header_rows, &first, &last), kPlotWidth / 2)
      << "the header holds little text";
}

TEST(PlotTest, TitlesSubtitlesAndNotesStayOnThePage) {
  for (YScale scale : {YScale::kLinear, YScale::kLog}) {
    PlotInput input = LabInput();
    input.title = kLongTitle;
    input.subtitle = kLongSubtitle;
    const absl::StatusOr<PlotImage> plot = RenderPlot(input, scale);
    ASSERT_TRUE(plot.ok()) << plot.status();
    ExpectHeaderInside(plot->png, static_cast<int>(plot->layout.box_top));
    // The axes start below the header, and still fill most of the page.
    EXPECT_GT(plot->layout.box_bottom - plot->layout.box_top, 0.55 * kPlotHeight);
  }
  LayerPlotInput layers;
  layers.title = kLongTitle;
  layers.subtitle = kLongSubtitle;
  layers.series.push_back(LayerSeries{"kaiming", kKaimingColor, {1, 1, 1}, {0.1, 0.1, 0.1}});
  const absl::StatusOr<std::string> png = RenderLayerStats(layers);
  ASSERT_TRUE(png.ok()) << png.status();
  ExpectHeaderInside(*png, 100);
}
}  // namespace
}  // namespace ablate::artifacts
