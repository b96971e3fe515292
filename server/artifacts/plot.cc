#include "server/artifacts/plot.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "plplot/plplot.h"
#include "server/artifacts/format.h"
#include "server/artifacts/text_fit.h"

namespace ablate::artifacts {
namespace {

// PLplot keeps its streams in process-wide state: one figure at a time.
std::mutex& PlplotMutex() {
  static std::mutex mutex;
  return mutex;
}

// The axes' box as fractions of the page (PLplot's normalised device coordinates). The bottom
// rises when the legend has to go below the axes.
// The right edge leaves room for the last x tick's label, centred on it.
// The top is where the header (PlanHeader) ends.
constexpr double kBoxLeft = 0.068, kBoxRight = 0.962, kBoxBottom = 0.082;

// Text sizes, as multiples of PLplot's default character height.
constexpr double kTitleText = 0.95, kSubtitleText = 0.6, kNoteText = 0.66, kTickText = 0.72,
                 kAxisLabelText = 0.76, kLegendText = 0.68, kAnnotationText = 0.66,
                 kMarkerText = 0.5, kBigMarkerText = 1.1;
// PLplot's default character height on the pngcairo device at 1600×1000, as a fraction of the
// page's height (9.17 mm of 352.8 mm), for planning before PLplot is started; RenderPlot
// measures the real one.
constexpr double kDefaultCharHeight = 0.026;
// Average advance of a character of DejaVu Sans, in character heights (for layout estimates).
constexpr double kCharAdvance = 0.66;
// The legend: its line sample's length (fraction of the axes' width) and text lines per entry.
constexpr double kLegendSample = 0.05, kLegendSpacing = 2.0;

// Colour map 0: fixed entries, then one per run.
enum ColorIndex { kBackground = 0, kInk = 1, kGrid = 2, kMuted = 3, kChanceInk = 4, kFirstRun = 8 };

bool IsFinite(float v) { return std::isfinite(v); }

// PLplot treats '#' as its escape character.
std::string Escape(std::string_view text) {
  return absl::StrReplaceAll(absl::string_view(text.data(), text.size()), {{"#", "##"}});
}

// Code points of UTF-8 text.
size_t Utf8Length(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

double Percentile(std::vector<float> values, double p) {
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

// The y world coordinate of a loss: itself, or its log10 on a log axis (PLplot draws log axes
// as linear axes of log10 values, labelled as powers of ten).
double ToWorld(YScale scale, double loss) {
  return scale == YScale::kLog ? std::log10(loss) : loss;
}
double FromWorld(YScale scale, double y) { return scale == YScale::kLog ? std::pow(10.0, y) : y; }

// Where the annotations go, as fractions of the axes' height, given a character height in the
// same units: the markers' row, then one line per annotation below it.
double MarkerRow(double char_h) { return 1 - 1.9 * kBigMarkerText * 0.5 * char_h - 0.01; }
double AnnotationRow(double char_h, size_t k) {
  return 1 - (3.3 + 1.45 * static_cast<double>(k)) * kAnnotationText * char_h - 0.015;
}

// The annotations' band: everything above the last annotation line, plus half a line.
double BandFor(size_t annotations, double char_h) {
  if (annotations == 0) return 0.04;
  return 1 - AnnotationRow(char_h, annotations - 1) + 0.8 * kAnnotationText * char_h;
}

// `rgb` mixed with white: `white` = 0 keeps it, 1 is white.
uint32_t Tint(uint32_t rgb, double white) {
  uint32_t out = 0;
  for (int shift : {16, 8, 0}) {
    const double c = (rgb >> shift) & 0xff;
    out |= static_cast<uint32_t>(std::lround(c + (255 - c) * white)) << shift;
  }
  return out;
}

void SetColor(int index, uint32_t rgb) {
  plscol0(index, static_cast<int>((rgb >> 16) & 0xff), static_cast<int>((rgb >> 8) & 0xff),
          static_cast<int>(rgb & 0xff));
}

bool PngCairoAvailable() {
  constexpr int kMaxDevices = 128;
  const char* menu[kMaxDevices];
  const char* names[kMaxDevices];
  const char** menu_list = menu;
  const char** name_list = names;
  int count = kMaxDevices;
  plgFileDevs(&menu_list, &name_list, &count);
  for (int i = 0; i < count; ++i) {
    if (std::string_view(name_list[i]) == "pngcairo") return true;
  }
  return false;
}

// Draws one PNG of kPlotWidth × kPlotHeight with PLplot: sets up a stream on the pngcairo
// driver with the fixed colours and one per run (kFirstRun + i), calls `draw` after plinit,
// and returns the file's bytes. PLplot writes to a file: a private temporary one.
absl::StatusOr<std::string> DrawPng(const std::vector<uint32_t>& run_colors,
                                    const std::function<void()>& draw) {
  std::string path = (std::filesystem::temp_directory_path() / "ablate-plot-XXXXXX.png").string();
  const int fd = mkstemps(path.data(), 4);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create a temporary file for the figure in ",
                                            std::filesystem::temp_directory_path().string()));
  }
  close(fd);
  struct Remove {
    std::string path;
    ~Remove() { std::filesystem::remove(path); }
  } remove_file{path};
  {
    std::lock_guard lock(PlplotMutex());
    // plinit exits the process when the driver is missing: check first.
    if (!PngCairoAvailable()) {
      return absl::InternalError(
          "PLplot has no pngcairo driver: install plplot-driver-cairo to draw the figures.");
    }
    PLINT stream = 0;
    plmkstrm(&stream);
    plsdev("pngcairo");
    plsfnam(path.c_str());
    plspage(0, 0, kPlotWidth, kPlotHeight, 0, 0);
    plscmap0n(kFirstRun + static_cast<int>(run_colors.size()) + 1);
    plscolbg(255, 255, 255);
    SetColor(kInk, 0x1A1A1A);
    SetColor(kGrid, 0xE4E4E4);
    SetColor(kMuted, 0x4D4D4D);
    SetColor(kChanceInk, 0x737373);
    for (size_t i = 0; i < run_colors.size(); ++i) {
      SetColor(kFirstRun + static_cast<int>(i), run_colors[i]);
    }
    plinit();
    draw();
    plend1();
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  std::string png = bytes.str();
  if (!in || png.size() < 8) {
    return absl::InternalError(absl::StrCat("PLplot did not write the figure to ", path, "."));
  }
  return png;
}

// The text above the axes: title, subtitle and notes, each broken into lines that fit the
// page (text_fit.h), stacked from the top edge down.
struct HeaderPart {
  std::string text;
  double size = 1;  // multiple of the default character height
  int color = kInk;
  int max_lines = 2;
};
struct HeaderLine {
  std::string text;
  double size = 1;
  int color = kInk;
  double y = 0;  // its middle, as a fraction of the page's height from the bottom
};
struct Header {
  std::vector<HeaderLine> lines;
  double bottom = 1;  // where the axes' box may start, as a fraction of the page's height
};

// Header text is centred on the axes' box, and kept this far (page fractions) from the
// image's edges and from the box below it (the top tick label reaches half a line above it).
constexpr double kHeaderMargin = 0.015, kHeaderGap = 0.022;
// Distance between the middles of consecutive lines, in character heights of the line.
constexpr double kLinePitch = 1.55;

Header PlanHeader(const std::vector<HeaderPart>& parts) {
  const double centre = (kBoxLeft + kBoxRight) / 2;
  const double half_width = std::min(centre, 1 - centre) - kHeaderMargin;
  // The width available, in default character heights (kDefaultCharHeight of the page's
  // height; the page is kPlotWidth / kPlotHeight as wide as it is high).
  const double max_width =
      2 * half_width * kPlotWidth / (kDefaultCharHeight * kPlotHeight);
  Header header;
  double cursor = 1 - kHeaderMargin;
  for (const HeaderPart& part : parts) {
    if (part.text.empty()) continue;
    const double pitch = kLinePitch * part.size * kDefaultCharHeight;
    for (std::string& line : FitLines(part.text, part.size, max_width, part.max_lines)) {
      header.lines.push_back(HeaderLine{std::move(line), part.size, part.color, cursor - pitch / 2});
      cursor -= pitch;
    }
  }
  header.bottom = cursor - kHeaderGap;
  return header;
}

// Draws `header` on the whole page; leaves the viewport and window on the whole page.
void DrawHeader(const Header& header) {
  plvpor(0, 1, 0, 1);
  plwind(0, 1, 0, 1);
  const double centre = (kBoxLeft + kBoxRight) / 2;
  for (const HeaderLine& line : header.lines) {
    plcol0(line.color);
    plschr(0, line.size);
    plptex(centre, line.y, 1, 0, 0.5, Escape(line.text).c_str());
  }
}

// PLplot's custom axis labels (plslabelfunc, the "o" axis option): the y axes of the layer
// figure hold log10 values, labelled as powers of ten.
void LogLabel(PLINT axis, PLFLT value, char* label, PLINT length, PLPointer) {
  if (axis == PL_Y_AXIS) {
    std::snprintf(label, static_cast<size_t>(length), "10#u%ld#d", std::lround(value));
  } else {
    std::snprintf(label, static_cast<size_t>(length), "%g", value);
  }
}

// A rectangle in fractions of the axes' box, (0, 0) bottom-left.
struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool Contains(double x, double y) const { return x >= x0 && x <= x1 && y >= y0 && y <= y1; }
  bool Overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

// One run's note in the annotation band: "uniform: ▲ 1.8e+30 at step 1 · ✕ NaN at step 2".
struct Annotation {
  int series = 0;
  double x = 0;  // the step it points at
  std::string text;
};

// The annotations `layout` calls for, in series order.
std::vector<Annotation> Annotations(const PlotInput& input, const PlotLayout& layout) {
  std::vector<Annotation> annotations;
  for (size_t i = 0; i < input.series.size(); ++i) {
    const PlotSeries& s = input.series[i];
    std::vector<std::string> parts;
    double x = layout.x_max;
    for (const ClippedRun& c : layout.clipped) {
      if (c.name != s.name) continue;
      // Up to three clipped points are listed; more are summarised by their peak.
      std::vector<std::string> values;
      int first = -1;
      for (size_t step = 0; step < s.losses.size(); ++step) {
        const float v = s.losses[step];
        if (!IsFinite(v) || v <= *layout.clip_at) continue;
        if (first < 0) first = static_cast<int>(step);
        values.push_back(absl::StrCat(Sig(v, 2), " at step ", step));
      }
      parts.push_back(c.points <= 3
                          ? absl::StrCat("▲ ", absl::StrJoin(values, ", "), " (off scale)")
                          : absl::StrCat("▲ ", c.points, " points off scale from step ", first,
                                         ", peak ", Sig(c.peak, 2), " at step ", c.peak_step));
      x = std::min<double>(x, first);
    }
    if (s.first_nonfinite_step) {
      parts.push_back(absl::StrCat("✕ NaN at step ", *s.first_nonfinite_step));
      x = std::min<double>(x, *s.first_nonfinite_step);
    }
    if (s.flatline_step) {
      parts.push_back(absl::StrCat("◆ flatline at chance from step ", *s.flatline_step));
      x = std::min<double>(x, *s.flatline_step);
    }
    if (!parts.empty()) {
      annotations.push_back(Annotation{static_cast<int>(i), x,
                                       absl::StrCat(s.name, ": ", absl::StrJoin(parts, " · "))});
    }
  }
  return annotations;
}

// The left end of annotation `a`'s text, as a fraction of the axes' width: just right of the
// step it points at, or, when it would run off the right edge, ending just left of it.
double AnnotationX(const Annotation& a, const PlotLayout& layout, double char_w) {
  const double fx = (a.x - layout.x_min) / (layout.x_max - layout.x_min);
  const double w =
      kCharAdvance * kAnnotationText * char_w * static_cast<double>(Utf8Length(a.text));
  if (fx + 0.012 + w <= 0.99) return fx + 0.012;
  return std::max(0.01, fx - 0.012 - w);
}

// Every point of every curve, as fractions of the axes, with extra points along long segments
// (a three-point curve still crosses the whole axes) and along each NaN marker's line.
std::vector<std::pair<double, double>> CurvePoints(const PlotInput& input,
                                                   const PlotLayout& layout) {
  std::vector<std::pair<double, double>> points;
  const auto fx_of = [&](double step) {
    return (step - layout.x_min) / (layout.x_max - layout.x_min);
  };
  for (const PlotSeries& s : input.series) {
    double px = 0, py = 0;
    bool have_previous = false;
    for (size_t step = 0; step < s.losses.size(); ++step) {
      const float v = s.losses[step];
      if (!IsFinite(v) || (layout.scale == YScale::kLog && v <= 0)) {
        have_previous = false;
        continue;
      }
      const double fx = fx_of(static_cast<double>(step));
      const double fy =
          std::min((ToWorld(layout.scale, v) - layout.y_lo) / (layout.y_hi - layout.y_lo), 1.5);
      if (have_previous) {
        const double length = std::hypot(fx - px, fy - py);
        const int pieces = std::min(200, static_cast<int>(length / 0.005));
        for (int k = 1; k < pieces; ++k) {
          const double t = static_cast<double>(k) / pieces;
          points.emplace_back(px + t * (fx - px), py + t * (fy - py));
        }
      }
      points.emplace_back(fx, fy);
      px = fx;
      py = fy;
      have_previous = true;
    }
    if (s.first_nonfinite_step) {
      const double fx = fx_of(*s.first_nonfinite_step);
      for (int k = 0; k <= 200; ++k) points.emplace_back(fx, k / 200.0);
    }
    have_previous = false;
    for (size_t k = 0; k < s.val_steps.size() && k < s.val_losses.size(); ++k) {
      const float v = s.val_losses[k];
      if (!IsFinite(v) || (layout.scale == YScale::kLog && v <= 0)) {
        have_previous = false;
        continue;
      }
      const double fx = fx_of(s.val_steps[k]);
      const double fy =
          std::min((ToWorld(layout.scale, v) - layout.y_lo) / (layout.y_hi - layout.y_lo), 1.5);
      if (have_previous) {
        const int pieces = std::min(200, static_cast<int>(std::hypot(fx - px, fy - py) / 0.005));
        for (int j = 1; j < pieces; ++j) {
          const double t = static_cast<double>(j) / pieces;
          points.emplace_back(px + t * (fx - px), py + t * (fy - py));
        }
      }
      points.emplace_back(fx, fy);
      px = fx;
      py = fy;
      have_previous = true;
    }
  }
  return points;
}

struct LegendSpot {
  double x0 = 0, y1 = 0;  // top-left corner, fractions of the axes
  long covered = 0;       // curve points under it
};

// The place of the given size inside the axes, clear of `avoid`, that covers the fewest curve
// points; ties go to the edges, then to the top right.
LegendSpot PlaceLegend(const std::vector<std::pair<double, double>>& points,
                       const std::vector<Box>& avoid, double width, double height) {
  constexpr double kMargin = 0.012;
  LegendSpot best{1 - kMargin - width, 1 - kMargin, std::numeric_limits<long>::max()};
  double best_cost = std::numeric_limits<double>::max();
  constexpr int kSteps = 24;
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

// Where the annotations and the markers in the band are drawn, given a character's width and
// height as fractions of the axes: the legend keeps clear of them.
std::vector<Box> BandBoxes(const PlotInput& input, const PlotLayout& layout,
                           const std::vector<Annotation>& annotations, double char_w,
                           double char_h) {
  std::vector<Box> boxes;
  const auto frac_x = [&](double x) { return (x - layout.x_min) / (layout.x_max - layout.x_min); };
  for (size_t k = 0; k < annotations.size(); ++k) {
    const double x0 = AnnotationX(annotations[k], layout, char_w);
    const double w = kCharAdvance * kAnnotationText * char_w *
                     static_cast<double>(Utf8Length(annotations[k].text));
    const double y = AnnotationRow(char_h, k);
    boxes.push_back(
        Box{x0, y - 0.7 * kAnnotationText * char_h, x0 + w, y + 0.7 * kAnnotationText * char_h});
  }
  for (const PlotSeries& s : input.series) {
    std::vector<double> xs;
    if (s.first_nonfinite_step) xs.push_back(*s.first_nonfinite_step);
    for (size_t step = 0; step < s.losses.size(); ++step) {
      if (layout.clip_at && IsFinite(s.losses[step]) && s.losses[step] > *layout.clip_at) {
        xs.push_back(static_cast<double>(step));
      }
    }
    for (double x : xs) {
      const double fx = frac_x(x);
      boxes.push_back(Box{fx - char_w, AnnotationRow(char_h, annotations.size()), fx + char_w, 1});
    }
  }
  return boxes;
}

}  // namespace

const char* YScaleName(YScale scale) { return scale == YScale::kLog ? "log" : "linear"; }

PlotLayout PlanPlot(const PlotInput& input, YScale scale, double box_height) {
  PlotLayout layout;
  layout.scale = scale;
  layout.x_max = std::max(input.steps, 1);
  layout.x_min = -0.012 * layout.x_max;

  std::vector<float> pool;
  for (const PlotSeries& s : input.series) {
    for (float v : s.losses) {
      if (IsFinite(v)) pool.push_back(v);
    }
    for (float v : s.val_losses) {
      if (IsFinite(v)) pool.push_back(v);
    }
  }
  // The largest loss that is not an outlier, and the smallest positive one.
  double top = input.chance > 0 ? 1.5 * input.chance : 1.0;
  double min_positive = top / 100;
  if (!pool.empty()) {
    const double q98 = Percentile(pool, 98);
    const double threshold = q98 > 0 ? kClipFactor * q98 : std::numeric_limits<double>::infinity();
    double max_kept = -std::numeric_limits<double>::infinity();
    double min_pos = std::numeric_limits<double>::infinity();
    for (float v : pool) {
      if (v <= threshold) max_kept = std::max<double>(max_kept, v);
      if (v > 0 && v <= threshold) min_pos = std::min<double>(min_pos, v);
    }
    if (std::isfinite(max_kept) && max_kept > 0) top = max_kept;
    if (std::isfinite(min_pos)) min_positive = min_pos;
    if (min_positive >= top) min_positive = top / 10;
  }
  layout.y_max = top;
  layout.y_min = scale == YScale::kLog ? min_positive : 0.0;
  layout.decades = std::log10(top / min_positive);

  // The data's world range, then the band on top: one annotation line for each run that will
  // need one (the outliers above `top` are clipped whatever the band's height).
  double lo = 0, hi = 0;
  if (scale == YScale::kLog) {
    lo = std::log10(layout.y_min);
    hi = std::log10(layout.y_max);
    const double span = std::max(hi - lo, 0.3);
    lo -= 0.03 * span;
    hi += 0.02 * span;
    if (std::floor(hi) < lo) lo = std::floor(lo);  // keep a power of ten, or no label
  } else {
    lo = std::min(0.0, layout.y_min);
    hi = layout.y_max > lo ? layout.y_max : lo + 1;
    hi += 0.02 * (hi - lo);
  }
  size_t needing = 0;
  for (const PlotSeries& s : input.series) {
    const bool above = std::any_of(s.losses.begin(), s.losses.end(),
                                   [&](float v) { return IsFinite(v) && v > top; });
    needing += above || s.first_nonfinite_step || s.flatline_step;
  }
  layout.band = BandFor(needing, kDefaultCharHeight / box_height);
  hi += layout.band / (1 - layout.band) * (hi - lo);
  layout.y_lo = lo;
  layout.y_hi = hi;

  const double axis_top = FromWorld(scale, hi);
  std::vector<std::string> notes;
  for (const PlotSeries& s : input.series) {
    ClippedRun clipped;
    clipped.name = s.name;
    for (size_t step = 0; step < s.losses.size(); ++step) {
      const float v = s.losses[step];
      if (!IsFinite(v) || v <= axis_top) continue;
      ++clipped.points;
      if (clipped.points == 1 || v > clipped.peak) {
        clipped.peak = v;
        clipped.peak_step = static_cast<int>(step);
      }
    }
    if (clipped.points > 0) {
      notes.push_back(
          absl::StrCat(s.name, " reached ", Sig(clipped.peak, 2), " at step ", clipped.peak_step));
      layout.clipped.push_back(clipped);
    }
  }
  if (!layout.clipped.empty()) {
    layout.clip_at = axis_top;
    layout.clip_note =
        absl::StrCat("y clipped at ", Sig(axis_top, 2), ": ", absl::StrJoin(notes, ", "), " (▲)");
  }
  layout.reason = pool.empty()
                      ? "no finite loss to plot"
                      : absl::StrCat("the plotted losses (", Sig(min_positive, 2), " to ",
                                     Sig(top, 2), ") span ", Sig(layout.decades, 2), " decades, ",
                                     layout.decades > kLogDecades ? "more" : "not more", " than ",
                                     Sig(kLogDecades, 2));
  return layout;
}

YScale ChooseScale(const PlotInput& input, std::string* reason) {
  const PlotLayout layout = PlanPlot(input, YScale::kLog);
  if (reason != nullptr) *reason = layout.reason;
  return layout.decades > kLogDecades ? YScale::kLog : YScale::kLinear;
}

absl::StatusOr<PlotImage> RenderPlot(const PlotInput& input, YScale scale) {
  PlotImage image;
  const int n = static_cast<int>(input.series.size());
  const bool any_validation = std::any_of(input.series.begin(), input.series.end(),
                                          [](const PlotSeries& s) { return !s.val_steps.empty(); });
  // The legend's entries: one per run, then a key to the line styles when there is validation.
  const int entries = n + (any_validation ? 2 : 0);
  const std::string train_key = "training loss (solid)";
  const std::string val_key = "validation loss (dashed, ○ at each evaluation)";

  // The legend: inside the axes where it hides no curve, else below them in one or two
  // columns, with the axes shortened to make room.
  double longest_label = 0;  // in character heights
  for (const PlotSeries& s : input.series) {
    longest_label =
        std::max(longest_label, kCharAdvance * static_cast<double>(Utf8Length(s.label)));
  }
  if (any_validation) {
    longest_label =
        std::max(longest_label, kCharAdvance * static_cast<double>(Utf8Length(val_key)));
  }
  const double aspect = static_cast<double>(kPlotHeight) / kPlotWidth;  // char width per height
  const auto legend_width = [&](double box_width) {  // fraction of the axes' width
    return kLegendSample +
           (longest_label + 4.8) * kLegendText * kDefaultCharHeight * aspect / box_width;
  };
  double box_bottom = kBoxBottom;
  // The header holds the axis note, which names the clipping PlanPlot decides: plan with the
  // default box first, then again once the box's top is known.
  const auto axis_note = [&](const PlotLayout& layout) {
    std::string note = absl::StrCat(YScaleName(scale), " y axis");
    if (!layout.clip_note.empty()) absl::StrAppend(&note, " · ", layout.clip_note);
    return note;
  };
  const auto header_for = [&](const PlotLayout& layout) {
    return PlanHeader({{input.title, kTitleText, kInk, 2},
                       {input.subtitle, kSubtitleText, kMuted, 2},
                       {axis_note(layout), kNoteText, kMuted, 3}});
  };
  Header header = header_for(PlanPlot(input, scale, 0.8 - box_bottom));
  const double box_top = header.bottom;
  image.layout = PlanPlot(input, scale, box_top - box_bottom);
  bool legend_inside = true;
  int legend_columns = 1;
  LegendSpot spot;
  if (n > 0) {
    const double char_h = kDefaultCharHeight / (box_top - box_bottom);
    const double char_w = kDefaultCharHeight * aspect / (kBoxRight - kBoxLeft);
    const double height = (kLegendSpacing * entries + 0.6) * kLegendText * char_h;
    spot = PlaceLegend(
        CurvePoints(input, image.layout),
        BandBoxes(input, image.layout, Annotations(input, image.layout), char_w, char_h),
        legend_width(kBoxRight - kBoxLeft), height);
    if (spot.covered > 2) {
      legend_inside = false;
      legend_columns = legend_width(kBoxRight - kBoxLeft) * 2 <= 0.98 ? 2 : 1;
      const int rows = (entries + legend_columns - 1) / legend_columns;
      box_bottom += (kLegendSpacing * rows + 0.4) * kLegendText * kDefaultCharHeight + 0.01;
      image.layout = PlanPlot(input, scale, box_top - box_bottom);
    }
  }
  PlotLayout& layout = image.layout;
  const double lo = layout.y_lo, hi = layout.y_hi;
  layout.box_left = kBoxLeft * kPlotWidth;
  layout.box_right = kBoxRight * kPlotWidth;
  layout.box_top = (1 - box_top) * kPlotHeight;
  // The final note, in as many lines as the header planned for it.
  {
    const Header final_header = header_for(layout);
    if (final_header.lines.size() == header.lines.size()) header = final_header;
  }
  layout.box_bottom = (1 - box_bottom) * kPlotHeight;
  const double x_min = layout.x_min, x_max = layout.x_max;
  const auto world_y = [&](float loss) {
    if (scale == YScale::kLog && loss <= 0) return lo - (hi - lo);  // below the axis: clipped away
    return ToWorld(scale, loss);
  };
  const auto world_x_of = [&](double fx) { return x_min + fx * (x_max - x_min); };
  const auto world_y_of = [&](double fy) { return lo + fy * (hi - lo); };
  const std::vector<Annotation> annotations = Annotations(input, layout);
  for (const Annotation& a : annotations) layout.annotations.push_back(a.text);

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
      // The label goes just above or below the line, where it and a margin of half its height
      // around it cover the fewest curve points (curves often run along chance, Xavier's
      // right on it), preferring the right end.
      const std::string label = absl::StrCat(input.chance_label, " = ", Sig(input.chance, 3));
      const double w = text_width(label, kNoteText), h = 1.2 * kNoteText * char_h;
      const double fy = (y - lo) / (hi - lo);
      // When a curve runs right along the line, the label may float up to two of its heights
      // above or below it.
      Box best;
      double best_cost = std::numeric_limits<double>::max();
      for (int place = 0; place < 2 * 3 * 21; ++place) {
        const int side = place / 63, lift = place / 21 % 3, k = place % 21;
        const double x1 = 0.99 - (0.98 - w) * k / 20.0;
        const double near = (0.15 + lift) * h, far = near + h;
        const Box box = side == 0 ? Box{x1 - w, fy + near, x1, fy + far}
                                  : Box{x1 - w, fy - far, x1, fy - near};
        double cost = 0.01 * k + 0.05 * side + 1.5 * lift;
        const Box padded{box.x0 - h / 2 * char_w / char_h, box.y0 - h / 2,
                         box.x1 + h / 2 * char_w / char_h, box.y1 + h / 2};
        for (const auto& [px, py] : points) cost += padded.Contains(px, py);
        if (cost < best_cost) {
          best_cost = cost;
          best = box;
        }
      }
      plschr(0, kNoteText);
      plptex(world_x_of(best.x1), world_y_of((best.y0 + best.y1) / 2), 1, 0, 1.0,
             Escape(label).c_str());
      avoid.push_back(best);
    }

    // Bands first, under every line: one polygon per stretch of steps with a band, low edge
    // forwards then high edge backwards, clamped to the axes.
    for (int i = 0; i < n; ++i) {
      const PlotSeries& s = input.series[i];
      plcol0(kFirstRun + n + i);
      const size_t m = std::min(s.band_low.size(), s.band_high.size());
      size_t k = 0;
      while (k < m) {
        std::vector<PLFLT> xs, ys, top;
        for (; k < m && IsFinite(s.band_low[k]) && IsFinite(s.band_high[k]); ++k) {
          xs.push_back(static_cast<double>(k));
          ys.push_back(std::clamp(world_y(s.band_low[k]), lo, hi));
          top.push_back(std::clamp(world_y(s.band_high[k]), lo, hi));
        }
        if (xs.size() >= 2) {
          const size_t count = xs.size();
          for (size_t j = count; j-- > 0;) {
            xs.push_back(xs[j]);
            ys.push_back(top[j]);
          }
          plfill(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
        }
        ++k;
      }
    }

    for (int i = 0; i < n; ++i) {
      const PlotSeries& s = input.series[i];
      plcol0(kFirstRun + i);
      plwidth(3.0);
      // Consecutive finite points form one polyline; a non-finite loss breaks it.
      std::vector<PLFLT> xs, ys;
      auto flush = [&] {
        if (xs.size() >= 2) plline(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
        xs.clear();
        ys.clear();
      };
      for (size_t step = 0; step < s.losses.size(); ++step) {
        if (!IsFinite(s.losses[step])) {
          flush();
          continue;
        }
        xs.push_back(static_cast<double>(step));
        ys.push_back(world_y(s.losses[step]));
      }
      flush();
    }

    // Validation: dashed, in the run's colour, with ○ at each evaluation. A non-finite
    // validation loss breaks the line like a training one.
    for (int i = 0; i < n; ++i) {
      const PlotSeries& s = input.series[i];
      plcol0(kFirstRun + i);
      plwidth(2.5);
      pllsty(2);
      std::vector<PLFLT> xs, ys, px, py;
      auto flush = [&] {
        if (xs.size() >= 2) plline(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
        xs.clear();
        ys.clear();
      };
      for (size_t k = 0; k < s.val_steps.size() && k < s.val_losses.size(); ++k) {
        if (!IsFinite(s.val_losses[k])) {
          flush();
          continue;
        }
        xs.push_back(s.val_steps[k]);
        ys.push_back(world_y(s.val_losses[k]));
        if (ys.back() >= lo && ys.back() <= hi) {
          px.push_back(xs.back());
          py.push_back(ys.back());
        }
      }
      flush();
      pllsty(1);
      plschr(0, kMarkerText * 1.6);
      if (!px.empty()) plstring(static_cast<PLINT>(px.size()), px.data(), py.data(), "○");
    }

    // Markers, over every curve: every point of a short run, ▲ on the top edge for each
    // clipped point, ◆ at the flatline, and for a NaN a dotted vertical line with ✕ on top.
    const double marker_y = world_y_of(MarkerRow(char_h));
    for (int i = 0; i < n; ++i) {
      const PlotSeries& s = input.series[i];
      plcol0(kFirstRun + i);
      const long finite = std::count_if(s.losses.begin(), s.losses.end(), IsFinite);
      std::vector<PLFLT> mx, my, cx, cy;
      for (size_t step = 0; step < s.losses.size(); ++step) {
        if (!IsFinite(s.losses[step])) continue;
        const double y = world_y(s.losses[step]);
        if (y > hi) {
          cx.push_back(static_cast<double>(step));
          cy.push_back(marker_y);
        } else if (finite <= kMarkerMaxPoints && y >= lo) {
          mx.push_back(static_cast<double>(step));
          my.push_back(y);
        }
      }
      plschr(0, kMarkerText);
      if (!mx.empty()) plstring(static_cast<PLINT>(mx.size()), mx.data(), my.data(), "●");
      plschr(0, kBigMarkerText * 0.8);
      // Clipped points at neighbouring steps (uniform's 0 and 1) would print one ▲ over the
      // other: keep them a marker's width apart.
      const double gap = kBigMarkerText * 0.8 * char_w * (x_max - x_min);
      for (size_t k = 1; k < cx.size(); ++k) cx[k] = std::max(cx[k], cx[k - 1] + gap);
      if (!cx.empty() && cx.size() <= static_cast<size_t>(kMarkerMaxPoints)) {
        plstring(static_cast<PLINT>(cx.size()), cx.data(), cy.data(), "▲");
      }
      if (s.flatline_step && *s.flatline_step < static_cast<int>(s.losses.size()) &&
          IsFinite(s.losses[*s.flatline_step])) {
        const PLFLT fx[] = {static_cast<double>(*s.flatline_step)};
        const PLFLT fy[] = {std::clamp(world_y(s.losses[*s.flatline_step]), lo, hi)};
        plschr(0, kBigMarkerText * 1.2);
        plstring(1, fx, fy, "◆");
      }
      if (s.first_nonfinite_step) {
        // ✕ on the run's annotation line, which starts just right of it.
        size_t row = 0;
        while (row < annotations.size() && annotations[row].series != i) ++row;
        const double x = *s.first_nonfinite_step;
        const double y = world_y_of(AnnotationRow(char_h, row));
        plwidth(2.0);
        pllsty(3);
        const PLFLT xs[] = {x, x}, ys[] = {lo, y};
        plline(2, xs, ys);
        pllsty(1);
        const PLFLT nx[] = {x}, ny[] = {y};
        plschr(0, kBigMarkerText);
        plstring(1, nx, ny, "✕");
      }
    }

    // The annotations, one line each in the band, starting just right of the step they point
    // at (or ending just left of it, near the right edge).
    plschr(0, kAnnotationText);
    for (size_t k = 0; k < annotations.size(); ++k) {
      const Annotation& a = annotations[k];
      plcol0(kFirstRun + a.series);
      plptex(world_x_of(AnnotationX(a, layout, char_w)), world_y_of(AnnotationRow(char_h, k)), 1, 0,
             0.0, Escape(a.text).c_str());
    }

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
    DrawHeader(header);
    plvpor(kBoxLeft, kBoxRight, box_bottom, box_top);
    plwind(x_min, x_max, lo, hi);

    if (n > 0) {
      const int m = entries;
      std::vector<PLINT> opts(m, PL_LEGEND_LINE), text_colors(m, kInk), line_colors(m, kMuted);
      std::vector<PLINT> line_styles(m, 1), symbol_colors(m, kMuted), symbol_numbers(m, 1);
      std::vector<PLFLT> line_widths(m, 3.0), symbol_scales(m, 0.7);
      std::vector<std::string> texts(m);
      std::vector<const char*> text_ptrs(m), symbols(m, "●");
      if (any_validation) {
        texts[n] = Escape(train_key);
        texts[n + 1] = Escape(val_key);
        line_styles[n + 1] = 2;
        line_widths[n + 1] = 2.5;
        opts[n + 1] |= PL_LEGEND_SYMBOL;
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
        const double width = kLegendSample + (longest_label + 4.8) * kLegendText * char_w;
        const double height = (kLegendSpacing * m + 0.6) * kLegendText * char_h;
        spot = PlaceLegend(points, avoid, width, height);
        position |= PL_POSITION_LEFT | PL_POSITION_TOP | PL_POSITION_INSIDE;
        x = spot.x0;
        y = 1 - spot.y1;
      } else {
        // Below the axis label, centred.
        position |= PL_POSITION_BOTTOM | PL_POSITION_OUTSIDE;
        y = (3.9 * kAxisLabelText) * char_h;
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
  });
  if (!png.ok()) return png.status();
  image.png = *std::move(png);
  return image;
}

int DecadeStep(double decades, double height_px) {
  // A label 10^k is about 1.4 tick-text lines tall with its exponent; keep them well apart.
  const double pitch = 2.4 * kTickText * kDefaultCharHeight * kPlotHeight;
  const int fit = std::max(1, static_cast<int>(height_px / pitch));
  for (int scale = 1;; scale *= 10) {
    for (int step : {1, 2, 5}) {
      if (decades / (step * scale) <= fit || scale > 100000) return step * scale;
    }
  }
}

std::pair<double, double> LogRange(const std::vector<double>& values) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (!std::isfinite(v) || v <= 0) continue;
    lo = std::min(lo, std::log10(v));
    hi = std::max(hi, std::log10(v));
  }
  if (!std::isfinite(lo)) return {-1, 1};
  lo = std::floor(lo);
  hi = std::ceil(hi);
  if (hi <= lo) hi = lo + 1;
  return {lo, hi};
}

absl::StatusOr<std::string> RenderLayerStats(const LayerPlotInput& input) {
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

}  // namespace ablate::artifacts
