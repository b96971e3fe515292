// The loss-curve figure (lab 1, Block C): every run's training loss against the step on one
// pair of axes, drawn with PLplot's cairo PNG driver at 1600×1000.
//
// What the data decides, and how (PlanPlot):
// - The y range. Losses more than kClipFactor times the 98th percentile of all finite losses
//   are outliers (a 1e12 at step 0 of a blowing-up run); the axis stops at the largest loss
//   that is not, the outliers are drawn as ▲ on the top edge, and the figure says so
//   ("y clipped at 0.76 · above it: uniform 3.7e+05 at step 1").
// - The scale (ChooseScale): log when the finite losses inside that range span more than
//   kLogDecades decades, else linear.
// Annotations: ✕ and what the loss became ("NaN at step N", "+inf at step N") at each run's first
// non-finite step, ◆ and "flatline" at each flatline step, a dashed grey line at chance (ln
// classes), markers on every point of a run with few points (a run that diverged at step 2 has
// three), each run's validation loss dashed in its colour with ○ at each evaluation, a legend with
// a key to the line styles, axis labels and a title.
#ifndef ABLATE_SERVER_ARTIFACTS_PLOT_H_
#define ABLATE_SERVER_ARTIFACTS_PLOT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace ablate::artifacts {

inline constexpr int kPlotWidth = 1600;
inline constexpr int kPlotHeight = 1000;
inline constexpr double kClipFactor = 10.0;
inline constexpr double kLogDecades = 2.0;
// Runs with at most this many points get a marker on every point.
inline constexpr int kMarkerMaxPoints = 50;

enum class YScale { kLinear, kLog };
const char* YScaleName(YScale scale);  // "linear", "log"

struct PlotSeries {
  std::string name;                         // short, for annotations: "uniform"
  std::string label;                        // the legend's text
  std::vector<float> losses;                // losses[s] is step s's; NaN and ±inf allowed
  std::optional<int> first_nonfinite_step;  // gets a ✕ marker...
  std::string first_nonfinite = "NaN";      // ...saying what it was: "NaN", "+inf", "-inf"
  std::optional<int> flatline_step;         // gets a flatline marker
  uint32_t rgb = 0;                         // 0xRRGGBB: InitColor(init) (init_colors.h)
  // Validation: val_losses[k] was measured after val_steps[k] updates. Drawn as a dashed line
  // in the run's colour with ○ at each evaluation; the legend's key says which line is which.
  std::vector<int> val_steps;
  std::vector<float> val_losses;
  // A band around `losses` (a seeds median): band_low[s] to band_high[s], filled in a pale tint
  // of the colour; NaN where there is none. Empty: no band.
  std::vector<float> band_low, band_high;
};

struct PlotInput {
  std::string title;         // first line above the axes
  std::string subtitle;      // second line: the configuration
  int steps = 0;             // the x axis runs from step 0 to this
  double chance = 0;         // a dashed reference line at this loss (0: none)...
  std::string chance_label;  // ...labelled so, "chance (ln 2)"
  std::vector<PlotSeries> series;
};

// A run whose losses went above the clipped y range.
struct ClippedRun {
  std::string name;   // PlotSeries::name
  int peak_step = 0;  // its largest finite loss
  float peak = 0;
  int points = 0;  // how many of its points are above the range
};

// What PlanPlot decided, and where RenderPlot drew the axes.
struct PlotLayout {
  YScale scale = YScale::kLinear;
  double decades = 0;             // span of the positive finite losses inside [y_min, y_max]
  std::string reason;             // why ChooseScale picks the scale it picks
  double y_min = 0, y_max = 1;    // the losses the y axis shows (before padding)
  double y_lo = 0, y_hi = 1;      // the axis's ends, in loss or (log axis) log10 loss units
  double band = 0;                // the top fraction of the axes kept for annotations
  std::optional<double> clip_at;  // y_max, when losses above it were clipped
  std::vector<ClippedRun> clipped;
  std::string clip_note;  // "y clipped at 4.3: uniform reached 1.8e+30 at step 1 (▲)", or ""
  // The notes drawn above the data, one per run that needs one (RenderPlot fills them):
  // "uniform: ▲ 3.7e+05 at step 0, 1.8e+30 at step 1 (off scale) · ✕ NaN at step 2".
  std::vector<std::string> annotations;
  // The axes' box in pixels from the image's top-left corner, and its world x range: the
  // pixel column of step s is XPixel(s).
  double box_left = 0, box_right = 0, box_top = 0, box_bottom = 0;
  double x_min = 0, x_max = 0;
  double XPixel(double step) const {
    return box_left + (step - x_min) / (x_max - x_min) * (box_right - box_left);
  }
};

// The y range, clipping and the decades it spans, for `scale`, with the axes' box
// `box_height` (a fraction of the page) tall.
PlotLayout PlanPlot(const PlotInput& input, YScale scale, double box_height = 0.796);

// The more informative scale for `input`: log when the losses PlanPlot keeps span more than
// kLogDecades decades. `reason` (optional) receives one sentence saying why.
YScale ChooseScale(const PlotInput& input, std::string* reason = nullptr);

struct PlotImage {
  std::string png;  // kPlotWidth × kPlotHeight, RGB
  PlotLayout layout;
};

// Draws the figure. Thread-safe (PLplot's state is global, so figures are drawn one at a time).
// Internal when PLplot's cairo driver is missing or the PNG cannot be encoded.
absl::StatusOr<PlotImage> RenderPlot(const PlotInput& input, YScale scale);

// Draws lab 1's kind of loss figure on both scales and throws them away. A thread's first
// figure loads PLplot's cairo driver, Pango and the fonts (Pango's font map is per thread), two
// to three times the cost of a figure; each of the server's finishing threads calls this as it
// starts, so that the cost does not fall on a job's end. An error is the figures' own (PLplot's
// cairo driver missing).
absl::Status WarmUpFigures();

// The layer figure (layer_stats.png): two panels against the layer (1 … depth), one line per
// series: the activation standard deviation at init on the probe batch, and the weight
// gradient's L2 norm in the first step, both on log y axes, so that the forward signal's
// explosion, vanishing or steady scale shows layer by layer. A value that is not finite and
// positive cannot sit on a log axis: it is left out (the caller's label says so).
struct LayerSeries {
  std::string label;  // the legend's text
  uint32_t rgb = 0;   // 0xRRGGBB
  std::vector<double> activation_std;            // [layer]
  std::vector<std::optional<double>> grad_norm;  // [layer]; absent when not recorded
};

struct LayerPlotInput {
  std::string title;
  std::string subtitle;
  std::vector<LayerSeries> series;
};

// The y range a panel shows, in log10 units, for the finite positive values given (whole
// decades; [-1, 1] when there are none).
std::pair<double, double> LogRange(const std::vector<double>& values);

// Decades between the labels of a log axis `decades` decades tall over `height_px` pixels:
// the smallest of 1, 2, 5, 10, 20, 50, ... that keeps the labels (10^k, at the tick text's
// size) from touching.
int DecadeStep(double decades, double height_px);

// Draws the layer figure, kPlotWidth × kPlotHeight. Thread-safe; errors as RenderPlot's.
absl::StatusOr<std::string> RenderLayerStats(const LayerPlotInput& input);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_PLOT_H_
