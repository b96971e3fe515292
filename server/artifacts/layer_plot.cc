#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plplot/plplot.h"
#include "server/artifacts/figure_style.h"
#include "server/artifacts/plot.h"
#include "server/artifacts/plot_layout.h"
#include "server/artifacts/plplot_canvas.h"

// layer_stats.png (RenderLayerStats, declared in plot.h): two panels against the layer.
namespace ablate::artifacts {

namespace figure {
namespace {

absl::StatusOr<std::string> DrawLayerFigure(const LayerPlotInput& input) {
  const int n = static_cast<int>(input.series.size());
  size_t depth = 1;
  std::vector<double> activations, norms;
  for (const LayerSeries& s : input.series) {
    depth = std::max({depth, s.activation_std.size(), s.grad_norm.size()});
    activations.insert(activations.end(), s.activation_std.begin(), s.activation_std.end());
    for (const std::optional<double>& g : s.grad_norm) {
      if (g) norms.push_back(*g);
    }
  }
  std::vector<uint32_t> run_colors;
  for (const LayerSeries& s : input.series) run_colors.push_back(s.rgb);
  // Two panels side by side, the legend below them.
  constexpr double kBottom = 0.27, kGap = 0.08;
  // The panels' own labels sit on a line above each panel, below the header.
  const Header header = PlanHeader({{input.title, kTitleText, kInk, 2},
                                    {input.subtitle, kSubtitleText, kMuted, 2}});
  const double kTop = header.bottom - 1.8 * kAxisLabelText * kDefaultCharHeight;
  const double mid = (kBoxLeft + kBoxRight) / 2;
  return DrawPng(run_colors, [&] {
    pladv(0);
    const double x_lo = 0.5, x_hi = static_cast<double>(depth) + 0.5;
    struct Panel {
      double left, right;
      std::pair<double, double> range;
      const char* label;
      bool activation;
    };
    const Panel panels[] = {
        {kBoxLeft, mid - kGap / 2, LogRange(activations),
         "activation std at init (log scale)", true},
        {mid + kGap / 2, kBoxRight, LogRange(norms),
         "weight-gradient norm in step 0 (log scale)", false},
    };
    // About a dozen labels on the x axis at most: every layer up to 12, then every 2nd, ...
    // The y axes are drawn as linear axes of log10 values, labelled 10^k by LogLabel, every
    // DecadeStep decades (PLplot's own log axes label every decade, however many there are).
    const double x_tick = std::ceil(static_cast<double>(depth) / 12.0);
    plslabelfunc(LogLabel, nullptr);
    for (const Panel& panel : panels) {
      const double height_px = (kTop - kBottom) * kPlotHeight;
      const int step = DecadeStep(panel.range.second - panel.range.first, height_px);
      const double y_lo = std::floor(panel.range.first / step) * step;
      const double y_hi = std::ceil(panel.range.second / step) * step;
      const double y_tick = step;
      const int y_sub = step <= 10 ? step : 10;
      plvpor(panel.left, panel.right, kBottom, kTop);
      plwind(x_lo, x_hi, y_lo, y_hi);
      plcol0(kGrid);
      plwidth(1.0);
      plbox("g", x_tick, 0, "g", y_tick, y_sub);
      for (int i = 0; i < n; ++i) {
        const LayerSeries& s = input.series[i];
        std::vector<PLFLT> xs, ys;
        const size_t layers = panel.activation ? s.activation_std.size() : s.grad_norm.size();
        for (size_t l = 0; l < layers; ++l) {
          const double v = panel.activation ? s.activation_std[l] : s.grad_norm[l].value_or(0.0);
          if (!std::isfinite(v) || v <= 0) continue;
          xs.push_back(static_cast<double>(l + 1));
          ys.push_back(std::log10(v));
        }
        plcol0(kFirstRun + i);
        plwidth(3.0);
        if (xs.size() >= 2) plline(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
        plschr(0, kMarkerText * 1.4);
        if (!xs.empty()) plstring(static_cast<PLINT>(xs.size()), xs.data(), ys.data(), "●");
      }
      plcol0(kInk);
      plwidth(1.5);
      plschr(0, kTickText);
      plbox("bcnst", x_tick, 0, "bcnostv", y_tick, y_sub);
      plschr(0, kAxisLabelText);
      plmtex("b", 2.6, 0.5, 0.5, "layer (1 = first Linear layer)");
      plmtex("t", 0.8, 0.5, 0.5, panel.label);
    }
    DrawHeader(header);
    plvpor(kBoxLeft, kBoxRight, kBottom, kTop);
    plwind(0, 1, 0, 1);
    if (n == 0) return;
    std::vector<PLINT> opts(n, PL_LEGEND_LINE | PL_LEGEND_SYMBOL), text_colors(n, kInk);
    std::vector<PLINT> line_colors(n), line_styles(n, 1), symbol_colors(n), symbol_numbers(n, 1);
    std::vector<PLFLT> line_widths(n, 3.0), symbol_scales(n, 0.7);
    std::vector<std::string> texts(n);
    std::vector<const char*> text_ptrs(n), symbols(n, "●");
    for (int i = 0; i < n; ++i) {
      line_colors[i] = symbol_colors[i] = kFirstRun + i;
      texts[i] = Escape(input.series[i].label);
      text_ptrs[i] = texts[i].c_str();
    }
    PLFLT legend_w = 0, legend_h = 0;
    const int columns = std::min(n, 3), rows = (n + columns - 1) / columns;
    pllegend(&legend_w, &legend_h,
             PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX | PL_LEGEND_ROW_MAJOR,
             PL_POSITION_VIEWPORT | PL_POSITION_BOTTOM | PL_POSITION_OUTSIDE, 0, 0.16,
             kLegendSample / 2, kBackground, kGrid, 1, rows, columns, n, opts.data(), 1.0, kLegendText,
             kLegendSpacing, 0.0, text_colors.data(), text_ptrs.data(), nullptr, nullptr, nullptr,
             nullptr, line_colors.data(), line_styles.data(), line_widths.data(),
             symbol_colors.data(), symbol_scales.data(), symbol_numbers.data(), symbols.data());
  });
}

}  // namespace
}  // namespace figure

absl::StatusOr<std::string> RenderLayerStats(const LayerPlotInput& input) {
  return figure::DrawLayerFigure(input);
}

}  // namespace ablate::artifacts
