#include "server/artifacts/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plplot/plplot.h"
#include "server/artifacts/figure_style.h"
#include "server/artifacts/format.h"
#include "server/artifacts/plot_layout.h"
#include "server/artifacts/plplot_canvas.h"

namespace ablate::artifacts {

namespace figure {
namespace {

// The axes being drawn on: their world ranges (steps; loss or log10 loss), and a character's
// width and height at scale 1 as fractions of the axes' box.
struct Axes {
  YScale scale = YScale::kLinear;
  double lo = 0, hi = 1, x_min = 0, x_max = 1;
  double char_w = 0, char_h = 0;
  // A loss's y; on a log axis a loss <= 0 goes below the axis, where it is clipped away.
  double WorldY(float loss) const {
    if (scale == YScale::kLog && loss <= 0) return lo - (hi - lo);
    return ToWorld(scale, loss);
  }
  double WorldXOf(double fx) const { return x_min + fx * (x_max - x_min); }  // from axes fractions
  double WorldYOf(double fy) const { return lo + fy * (hi - lo); }
};

// Draws a polyline of a curve, thinned first (ThinPolyline). A thinned one is stroked in
// pieces of kStrokePiece points, each sharing its last point with the next: cairo fills a
// stroke's whole outline at once, and the outline of a noisy run's thousands of overlapping
// segments took it seconds per curve. (A line short enough to keep every point is one stroke,
// as before.)
constexpr size_t kStrokePiece = 64;
void DrawCurve(std::vector<PLFLT>& xs, std::vector<PLFLT>& ys, const Axes& axes) {
  if (!ThinPolyline(xs, ys, axes.x_min, axes.x_max)) {
    if (xs.size() >= 2) plline(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
    return;
  }
  for (size_t first = 0; first + 1 < xs.size(); first += kStrokePiece - 1) {
    const size_t count = std::min(kStrokePiece, xs.size() - first);
    plline(static_cast<PLINT>(count), xs.data() + first, ys.data() + first);
  }
}

// Bands first, under every line: one polygon per stretch of steps with a band, low edge
// forwards then high edge backwards, clamped to the axes.
void DrawBands(const PlotInput& input, const Axes& axes) {
  const int n = static_cast<int>(input.series.size());
  for (int i = 0; i < n; ++i) {
    const PlotSeries& s = input.series[i];
    plcol0(kFirstRun + n + i);
    const size_t m = std::min(s.band_low.size(), s.band_high.size());
    size_t k = 0;
    while (k < m) {
      std::vector<PLFLT> xs, ys, top;
      for (; k < m && IsFinite(s.band_low[k]) && IsFinite(s.band_high[k]); ++k) {
        xs.push_back(static_cast<double>(k));
        ys.push_back(std::clamp(axes.WorldY(s.band_low[k]), axes.lo, axes.hi));
        top.push_back(std::clamp(axes.WorldY(s.band_high[k]), axes.lo, axes.hi));
      }
      if (xs.size() >= 2) {
        // Each edge thinned on its own (ThinPolyline keeps its extremes per column).
        std::vector<PLFLT> top_xs = xs;
        ThinPolyline(xs, ys, axes.x_min, axes.x_max);
        ThinPolyline(top_xs, top, axes.x_min, axes.x_max);
        for (size_t j = top_xs.size(); j-- > 0;) {
          xs.push_back(top_xs[j]);
          ys.push_back(top[j]);
        }
        plfill(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
      }
      ++k;
    }
  }
}

// Each run's training loss, solid in its colour.
void DrawTrainingCurves(const PlotInput& input, const Axes& axes) {
  const int n = static_cast<int>(input.series.size());
  for (int i = 0; i < n; ++i) {
    const PlotSeries& s = input.series[i];
    plcol0(kFirstRun + i);
    plwidth(3.0);
    // Consecutive finite points form one polyline; a non-finite loss breaks it.
    std::vector<PLFLT> xs, ys;
    auto flush = [&] {
      DrawCurve(xs, ys, axes);
      xs.clear();
      ys.clear();
    };
    for (size_t step = 0; step < s.losses.size(); ++step) {
      if (!IsFinite(s.losses[step])) {
        flush();
        continue;
      }
      xs.push_back(static_cast<double>(step));
      ys.push_back(axes.WorldY(s.losses[step]));
    }
    flush();
  }
}

// Validation: dashed, in the run's colour, with ○ at each evaluation. A non-finite
// validation loss breaks the line like a training one.
void DrawValidation(const PlotInput& input, const Axes& axes) {
  const int n = static_cast<int>(input.series.size());
  for (int i = 0; i < n; ++i) {
    const PlotSeries& s = input.series[i];
    plcol0(kFirstRun + i);
    plwidth(2.5);
    pllsty(2);
    std::vector<PLFLT> xs, ys, px, py;
    const bool markers = DrawsValidationMarkers(s);
    auto flush = [&] {
      DrawCurve(xs, ys, axes);
      xs.clear();
      ys.clear();
    };
    for (size_t k = 0; k < s.val_steps.size() && k < s.val_losses.size(); ++k) {
      if (!IsFinite(s.val_losses[k])) {
        flush();
        continue;
      }
      xs.push_back(s.val_steps[k]);
      ys.push_back(axes.WorldY(s.val_losses[k]));
      if (markers && ys.back() >= axes.lo && ys.back() <= axes.hi) {
        px.push_back(xs.back());
        py.push_back(ys.back());
      }
    }
    flush();
    pllsty(1);
    plschr(0, kMarkerText * 1.6);
    if (!px.empty()) plstring(static_cast<PLINT>(px.size()), px.data(), py.data(), "○");
  }
}

// Markers, over every curve: every point of a short run, ▲ on the top edge for each
// clipped point, ◆ at the flatline, and for a NaN a dotted vertical line with ✕ on top.
void DrawMarkers(const PlotInput& input, const Axes& axes,
                 const std::vector<Annotation>& annotations) {
  const int n = static_cast<int>(input.series.size());
  const double marker_y = axes.WorldYOf(MarkerRow(axes.char_h));
  for (int i = 0; i < n; ++i) {
    const PlotSeries& s = input.series[i];
    plcol0(kFirstRun + i);
    const long finite = std::count_if(s.losses.begin(), s.losses.end(), IsFinite);
    std::vector<PLFLT> mx, my, cx, cy;
    for (size_t step = 0; step < s.losses.size(); ++step) {
      if (!IsFinite(s.losses[step])) continue;
      const double y = axes.WorldY(s.losses[step]);
      if (y > axes.hi) {
        cx.push_back(static_cast<double>(step));
        cy.push_back(marker_y);
      } else if (finite <= kMarkerMaxPoints && y >= axes.lo) {
        mx.push_back(static_cast<double>(step));
        my.push_back(y);
      }
    }
    plschr(0, kMarkerText);
    if (!mx.empty()) plstring(static_cast<PLINT>(mx.size()), mx.data(), my.data(), "●");
    plschr(0, kBigMarkerText * 0.8);
    // Clipped points at neighbouring steps (uniform's 0 and 1) would print one ▲ over the
    // other: keep them a marker's width apart.
    const double gap = kBigMarkerText * 0.8 * axes.char_w * (axes.x_max - axes.x_min);
    for (size_t k = 1; k < cx.size(); ++k) cx[k] = std::max(cx[k], cx[k - 1] + gap);
    if (!cx.empty() && cx.size() <= static_cast<size_t>(kMarkerMaxPoints)) {
      plstring(static_cast<PLINT>(cx.size()), cx.data(), cy.data(), "▲");
    }
    if (s.flatline_step && *s.flatline_step < static_cast<int>(s.losses.size()) &&
        IsFinite(s.losses[*s.flatline_step])) {
      const PLFLT fx[] = {static_cast<double>(*s.flatline_step)};
      const PLFLT fy[] = {std::clamp(axes.WorldY(s.losses[*s.flatline_step]), axes.lo, axes.hi)};
      plschr(0, kBigMarkerText * 1.2);
      plstring(1, fx, fy, "◆");
    }
    if (s.first_nonfinite_step) {
      // ✕ on the run's annotation line, which starts just right of it.
      size_t row = 0;
      while (row < annotations.size() && annotations[row].series != i) ++row;
      const double x = *s.first_nonfinite_step;
      const double y = axes.WorldYOf(AnnotationRow(axes.char_h, row));
      plwidth(2.0);
      pllsty(3);
      const PLFLT xs[] = {x, x}, ys[] = {axes.lo, y};
      plline(2, xs, ys);
      pllsty(1);
      const PLFLT nx[] = {x}, ny[] = {y};
      plschr(0, kBigMarkerText);
      plstring(1, nx, ny, "✕");
    }
  }
}

// The annotations, one line each in the band, starting just right of the step they point
// at (or ending just left of it, near the right edge).
void DrawAnnotations(const std::vector<Annotation>& annotations, const PlotLayout& layout,
                     const Axes& axes) {
  plschr(0, kAnnotationText);
  for (size_t k = 0; k < annotations.size(); ++k) {
    const Annotation& a = annotations[k];
    plcol0(kFirstRun + a.series);
    plptex(axes.WorldXOf(AnnotationX(a, layout, axes.char_w)), axes.WorldYOf(AnnotationRow(axes.char_h, k)), 1, 0,
           0.0, Escape(a.text).c_str());
  }
}

// The legend: inside the axes at the spot that hides the fewest curve points (placed again
// with the real character size, clear of `avoid`), or below the axes as planned.
void DrawLegend(const PlotInput& input, const LossFigurePlan& plan, const Axes& axes,
                const std::vector<std::pair<double, double>>& points, const std::vector<Box>& avoid) {
  const int n = static_cast<int>(input.series.size());
  const bool any_validation = plan.any_validation, legend_inside = plan.legend_inside;
  const int entries = plan.entries, legend_columns = plan.legend_columns;
  const double longest_label = plan.longest_label;
  if (n > 0) {
    const int m = entries;
    std::vector<PLINT> opts(m, PL_LEGEND_LINE), text_colors(m, kInk), line_colors(m, kMuted);
    std::vector<PLINT> line_styles(m, 1), symbol_colors(m, kMuted), symbol_numbers(m, 1);
    std::vector<PLFLT> line_widths(m, 3.0), symbol_scales(m, 0.7);
    std::vector<std::string> texts(m);
    std::vector<const char*> text_ptrs(m), symbols(m, "●");
    if (any_validation) {
      texts[n] = Escape(kTrainKey);
      texts[n + 1] = Escape(kValKey);
      line_styles[n + 1] = 2;
      line_widths[n + 1] = 2.5;
      if (std::any_of(input.series.begin(), input.series.end(), DrawsValidationMarkers)) {
        opts[n + 1] |= PL_LEGEND_SYMBOL;
      }
      symbols[n + 1] = "○";
      symbol_scales[n + 1] = 0.9;
      for (int k = n; k < m; ++k) text_ptrs[k] = texts[k].c_str();
    }
    for (int i = 0; i < n; ++i) {
      const PlotSeries& s = input.series[i];
      if (std::count_if(s.losses.begin(), s.losses.end(), IsFinite) <= kMarkerMaxPoints) {
        opts[i] |= PL_LEGEND_SYMBOL;
      }
      line_colors[i] = symbol_colors[i] = kFirstRun + i;
      texts[i] = Escape(s.label);
      text_ptrs[i] = texts[i].c_str();
    }
    PLINT position = PL_POSITION_VIEWPORT;
    double x = 0, y = 0;
    int rows = m;
    if (legend_inside) {
      // Place it again with the real character size and the annotations to avoid.
      const double width = kLegendSample + (longest_label + 4.8) * kLegendText * axes.char_w;
      const double height = (kLegendSpacing * m + 0.6) * kLegendText * axes.char_h;
      const LegendSpot spot = PlaceLegend(points, avoid, width, height);
      position |= PL_POSITION_LEFT | PL_POSITION_TOP | PL_POSITION_INSIDE;
      x = spot.x0;
      y = 1 - spot.y1;
    } else {
      // Below the axis label, centred.
      position |= PL_POSITION_BOTTOM | PL_POSITION_OUTSIDE;
      y = (3.9 * kAxisLabelText) * axes.char_h;
      rows = (m + legend_columns - 1) / legend_columns;
    }
    PLFLT legend_w = 0, legend_h = 0;
    pllegend(&legend_w, &legend_h,
             PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX | PL_LEGEND_ROW_MAJOR, position, x, y,
             kLegendSample, kBackground, kGrid, 1, rows, legend_inside ? 1 : legend_columns, m,
             opts.data(), 1.0, kLegendText, kLegendSpacing, 0.0, text_colors.data(),
             text_ptrs.data(), nullptr, nullptr, nullptr, nullptr, line_colors.data(),
             line_styles.data(), line_widths.data(), symbol_colors.data(), symbol_scales.data(),
             symbol_numbers.data(), symbols.data());
  }
}

// The PLplot calls that draw what PlanLossFigure (plot_layout.h) planned.
absl::StatusOr<PlotImage> DrawLossFigure(const PlotInput& input, YScale scale) {
  PlotImage image;
  const LossFigurePlan plan = PlanLossFigure(input, scale);
  image.layout = plan.layout;
  const PlotLayout& layout = image.layout;
  const std::vector<Annotation>& annotations = plan.annotations;
  const double box_top = plan.box_top, box_bottom = plan.box_bottom;
  Axes axes;
  axes.scale = scale;
  axes.lo = layout.y_lo;
  axes.hi = layout.y_hi;
  axes.x_min = layout.x_min;
  axes.x_max = layout.x_max;
  const double lo = axes.lo, hi = axes.hi, x_min = axes.x_min, x_max = axes.x_max;

  // Each run's colour, then its pale tint for a band (kFirstRun + n + i).
  std::vector<uint32_t> run_colors;
  for (const PlotSeries& s : input.series) run_colors.push_back(s.rgb);
  for (const PlotSeries& s : input.series) run_colors.push_back(Tint(s.rgb, 0.78));
  absl::StatusOr<std::string> png = DrawPng(run_colors, [&] {
    pladv(0);
    plvpor(kBoxLeft, kBoxRight, box_bottom, box_top);
    plwind(x_min, x_max, lo, hi);
    const char* y_log = scale == YScale::kLog ? "l" : "";

    // A character's width and height at scale 1, as fractions of the axes' box.
    PLFLT page_x0, page_x1, page_y0, page_y1, default_mm, height_mm;
    plgspa(&page_x0, &page_x1, &page_y0, &page_y1);
    plschr(0, 1.0);
    plgchr(&default_mm, &height_mm);
    const double char_w = height_mm / ((kBoxRight - kBoxLeft) * (page_x1 - page_x0));
    const double char_h = height_mm / ((box_top - box_bottom) * (page_y1 - page_y0));
    axes.char_w = char_w;
    axes.char_h = char_h;
    const auto text_width = [&](std::string_view text, double size) {
      return kCharAdvance * size * char_w * static_cast<double>(Utf8Length(text));
    };
    const std::vector<std::pair<double, double>> points = CurvePoints(input, layout);

    // Grid, then the chance line, then the curves, then the markers and the frame on top.
    plcol0(kGrid);
    plwidth(1.0);
    plbox("g", 0, 0, absl::StrCat("g", y_log).c_str(), 0, 0);

    std::vector<Box> avoid = BandBoxes(input, layout, annotations, char_w, char_h);
    if (input.chance > 0 && ToWorld(scale, input.chance) > lo &&
        ToWorld(scale, input.chance) < hi) {
      const double y = ToWorld(scale, input.chance);
      const PLFLT xs[] = {x_min, x_max}, ys[] = {y, y};
      plcol0(kChanceInk);
      plwidth(2.0);
      pllsty(2);
      plline(2, xs, ys);
      pllsty(1);
      const std::string label = absl::StrCat(input.chance_label, " = ", Sig(input.chance, 3));
      const double w = text_width(label, kNoteText), h = 1.2 * kNoteText * char_h;
      const Box best = PlaceLineLabel(points, (y - lo) / (hi - lo), w, h, char_w, char_h);
      plschr(0, kNoteText);
      plptex(axes.WorldXOf(best.x1), axes.WorldYOf((best.y0 + best.y1) / 2), 1, 0, 1.0,
             Escape(label).c_str());
      avoid.push_back(best);
    }

    DrawBands(input, axes);
    DrawTrainingCurves(input, axes);
    DrawValidation(input, axes);
    DrawMarkers(input, axes, annotations);
    DrawAnnotations(annotations, layout, axes);

    // Frame, ticks and numbers.
    plcol0(kInk);
    plwidth(1.5);
    plschr(0, kTickText);
    plbox("bcnst", 0, 0, absl::StrCat("bcnstv", y_log).c_str(), 0, 0);
    plschr(0, kAxisLabelText);
    plmtex("b", 2.6, 0.5, 0.5, "step (number of updates before the loss was measured)");
    plmtex("l", 4.2, 0.5, 0.5,
           scale == YScale::kLog ? "loss (cross-entropy, log scale)" : "loss (cross-entropy)");

    // Title, configuration, and what the axis does to the data; then back to the axes for
    // the legend.
    DrawHeader(plan.header);
    plvpor(kBoxLeft, kBoxRight, box_bottom, box_top);
    plwind(x_min, x_max, lo, hi);

    DrawLegend(input, plan, axes, points, avoid);
  });
  if (!png.ok()) return png.status();
  image.png = *std::move(png);
  return image;
}

}  // namespace
}  // namespace figure

absl::StatusOr<PlotImage> RenderPlot(const PlotInput& input, YScale scale) {
  return figure::DrawLossFigure(input, scale);
}

absl::Status WarmUpFigures() {
  // Lab 1's shapes: a run that blows up off scale (▲) to a NaN (✕), one that flatlines, one that
  // trains, each validated (○), on both scales, so that the fonts, sizes and glyphs of a lab
  // job's figures are loaded (a thread's first log-scale figure cost 2.4 times its next ones).
  PlotInput input;
  input.title = "warm-up";
  input.subtitle = "a figure drawn and discarded as the server starts · depth 12";
  input.steps = 40;
  input.chance = std::log(2.0);
  input.chance_label = "chance (ln 2)";
  PlotSeries blows_up, flat, trains;
  blows_up.name = blows_up.label = "uniform";
  blows_up.losses = {0.7F, 3.7e5F, 1.8e30F, std::nanf("")};
  blows_up.first_nonfinite_step = 3;
  flat.name = flat.label = "xavier";
  flat.flatline_step = 10;
  trains.name = trains.label = "kaiming";
  for (int step = 0; step <= input.steps; ++step) {
    flat.losses.push_back(0.6931F);
    trains.losses.push_back(0.7F * std::exp(-0.15F * static_cast<float>(step)));
  }
  for (PlotSeries* s : {&flat, &trains}) {
    s->val_steps = {0, 20, 40};
    s->val_losses = {s->losses[0], s->losses[20], s->losses[40]};
  }
  input.series = {blows_up, flat, trains};
  for (YScale scale : {YScale::kLog, YScale::kLinear}) {
    if (absl::Status s = RenderPlot(input, scale).status(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace ablate::artifacts
