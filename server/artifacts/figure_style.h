// The figures' shared style (plot.cc's loss figure and layer_plot.cc's layer figure): the
// axes' box, text sizes, colour slots, and the small conversions both the layout
// (plot_layout.h) and the PLplot calls (plplot_canvas.h) need. Internal to server/artifacts.
#ifndef ABLATE_SERVER_ARTIFACTS_FIGURE_STYLE_H_
#define ABLATE_SERVER_ARTIFACTS_FIGURE_STYLE_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "server/artifacts/plot.h"

namespace ablate::artifacts::figure {

// The axes' box as fractions of the page (PLplot's normalised device coordinates). The bottom
// rises when the legend has to go below the axes.
// The right edge leaves room for the last x tick's label, centred on it.
// The top is where the header (PlanHeader) ends.
inline constexpr double kBoxLeft = 0.068, kBoxRight = 0.962, kBoxBottom = 0.082;

// Text sizes, as multiples of PLplot's default character height.
inline constexpr double kTitleText = 0.95, kSubtitleText = 0.6, kNoteText = 0.66, kTickText = 0.72,
                 kAxisLabelText = 0.76, kLegendText = 0.68, kAnnotationText = 0.66,
                 kMarkerText = 0.5, kBigMarkerText = 1.1;
// PLplot's default character height on the cairo device at 1600×1000, as a fraction of the
// page's height (9.17 mm of 352.8 mm), for planning before PLplot is started; RenderPlot
// measures the real one.
inline constexpr double kDefaultCharHeight = 0.026;
// Average advance of a character of DejaVu Sans, in character heights (for layout estimates).
inline constexpr double kCharAdvance = 0.66;
// The legend: its line sample's length (fraction of the axes' width) and text lines per entry.
inline constexpr double kLegendSample = 0.05, kLegendSpacing = 2.0;

// Colour map 0: fixed entries, then one per run.
enum ColorIndex { kBackground = 0, kInk = 1, kGrid = 2, kMuted = 3, kChanceInk = 4, kFirstRun = 8 };

inline bool IsFinite(float v) { return std::isfinite(v); }

// `text` with PLplot's escape character '#' doubled, so that it is drawn as written.
inline std::string Escape(std::string_view text) {
  return absl::StrReplaceAll(absl::string_view(text.data(), text.size()), {{"#", "##"}});
}

// Code points of UTF-8 text.
inline size_t Utf8Length(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

// The y world coordinate of a loss: itself, or its log10 on a log axis (PLplot draws log axes
// as linear axes of log10 values, labelled as powers of ten).
inline double ToWorld(YScale scale, double loss) {
  return scale == YScale::kLog ? std::log10(loss) : loss;
}
inline double FromWorld(YScale scale, double y) {
  return scale == YScale::kLog ? std::pow(10.0, y) : y;
}

// `rgb` mixed with white: `white` = 0 keeps it, 1 is white.
inline uint32_t Tint(uint32_t rgb, double white) {
  uint32_t out = 0;
  for (int shift : {16, 8, 0}) {
    const double c = (rgb >> shift) & 0xff;
    out |= static_cast<uint32_t>(std::lround(c + (255 - c) * white)) << shift;
  }
  return out;
}

}  // namespace ablate::artifacts::figure

#endif  // ABLATE_SERVER_ARTIFACTS_FIGURE_STYLE_H_
