// Where the loss figure's parts go, decided before PLplot draws anything: the header's lines,
// the axes' box, the annotations above the data, the legend's place (inside the axes where it
// hides no curve, else below them) and the chance line's label. Plain geometry: no PLplot
// call here (those are in plplot_canvas.h and plot.cc). Internal to server/artifacts.
//
// Coordinates: "page" fractions run from the image's bottom-left corner (PLplot's normalised
// device coordinates); "axes" fractions from the axes' box's bottom-left corner.
#ifndef ABLATE_SERVER_ARTIFACTS_PLOT_LAYOUT_H_
#define ABLATE_SERVER_ARTIFACTS_PLOT_LAYOUT_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "server/artifacts/figure_style.h"
#include "server/artifacts/plot.h"

namespace ablate::artifacts::figure {

// Where the annotations go, as fractions of the axes' height, given a character height in the
// same units: the markers' row, then one line per annotation below it.
double MarkerRow(double char_h);
double AnnotationRow(double char_h, size_t k);

// The annotations' band: everything above the last annotation line, plus half a line.
double BandFor(size_t annotations, double char_h);

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
Header PlanHeader(const std::vector<HeaderPart>& parts);

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
std::vector<Annotation> Annotations(const PlotInput& input, const PlotLayout& layout);

// The left end of annotation `a`'s text, as a fraction of the axes' width: just right of the
// step it points at, or, when it would run off the right edge, ending just left of it.
double AnnotationX(const Annotation& a, const PlotLayout& layout, double char_w);

// The x resolution ThinPolyline keeps: a column per pixel of the axes' box.
inline constexpr int kThinColumns = static_cast<int>((kBoxRight - kBoxLeft) * kPlotWidth);

// Thins a polyline whose x never decreases (steps) to what the figure can show. When it has
// more than four points per column of `columns` equal columns over [x_min, x_max], each column
// keeps its first and last points and those with the lowest and highest y, in their order (the
// M4 rule of Jugel et al., VLDB 2014: a line through them covers the same pixels as the whole).
// A shorter polyline is left as it is, so a figure of runs up to 5,700 or so steps is drawn
// from every point. A run of 100,000 steps drew 100,000 segments per curve, which held the
// job's end (and every other job's, queued behind it) for minutes.
// Returns whether it thinned the line.
bool ThinPolyline(std::vector<double>& xs, std::vector<double>& ys, double x_min, double x_max,
                  int columns = kThinColumns);

// At most this many ○ are drawn on a run's validation line: more, at a few pixels apart, would
// only thicken the line (and each is a glyph to draw). The legend then shows no ○ either.
inline constexpr int kMaxValidationMarkers = 400;
bool DrawsValidationMarkers(const PlotSeries& s);

// Every point of every curve, as fractions of the axes, with extra points along long segments
// (a three-point curve still crosses the whole axes) and along each NaN marker's line. Curves
// are thinned first (ThinPolyline), and when the extra points would pass kMaxCurvePoints they
// are spaced out to fit: the legend is placed by counting them, which needs their spread, not
// every one.
inline constexpr size_t kMaxCurvePoints = 400000;
std::vector<std::pair<double, double>> CurvePoints(const PlotInput& input,
                                                   const PlotLayout& layout);

struct LegendSpot {
  double x0 = 0, y1 = 0;  // top-left corner, fractions of the axes
  long covered = 0;       // curve points under it
};

// The place of the given size inside the axes, clear of `avoid`, that covers the fewest curve
// points; ties go to the edges, then to the top right.
LegendSpot PlaceLegend(const std::vector<std::pair<double, double>>& points,
                       const std::vector<Box>& avoid, double width, double height);

// Where the annotations and the markers in the band are drawn, given a character's width and
// height as fractions of the axes: the legend keeps clear of them.
std::vector<Box> BandBoxes(const PlotInput& input, const PlotLayout& layout,
                           const std::vector<Annotation>& annotations, double char_w,
                           double char_h);

// The place of a horizontal line's label, `w` × `h` (axes fractions), for a line at height
// `fy`: just above or below it, where the label and a margin of half its height around it
// cover the fewest curve `points` (curves often run along chance, Xavier's right on it),
// preferring the right end. When a curve runs right along the line, the label may float up to
// two of its heights above or below it. `char_w` and `char_h` are a character's size.
Box PlaceLineLabel(const std::vector<std::pair<double, double>>& points, double fy, double w,
                   double h, double char_w, double char_h);

// The legend's line-style key, shown when any run has validation.
inline constexpr const char* kTrainKey = "training loss (solid)";
inline constexpr const char* kValKey = "validation loss (dashed, ○ at each evaluation)";

// The loss figure's plan: everything RenderPlot needs to know before it starts PLplot.
struct LossFigurePlan {
  PlotLayout layout;  // with the box's pixels and the annotations' texts filled in
  Header header;      // title, subtitle and the axis note
  std::vector<Annotation> annotations;
  double box_top = 0, box_bottom = 0;  // the axes' box, page fractions
  bool any_validation = false;
  int entries = 0;           // legend entries: one per run, then the two of the key
  double longest_label = 0;  // the legend's longest text, in character heights
  bool legend_inside = true;  // else below the axes, in legend_columns columns
  int legend_columns = 1;
};
LossFigurePlan PlanLossFigure(const PlotInput& input, YScale scale);

}  // namespace ablate::artifacts::figure

#endif  // ABLATE_SERVER_ARTIFACTS_PLOT_LAYOUT_H_
