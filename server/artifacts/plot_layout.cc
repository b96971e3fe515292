#include "server/artifacts/plot_layout.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/analysis.h"
#include "server/artifacts/format.h"
#include "server/artifacts/text_fit.h"

namespace ablate::artifacts {
namespace figure {
namespace {

// Header text is centred on the axes' box, and kept this far (page fractions) from the
// image's edges and from the box below it (the top tick label reaches half a line above it).
constexpr double kHeaderMargin = 0.015, kHeaderGap = 0.022;
// Distance between the middles of consecutive lines, in character heights of the line.
constexpr double kLinePitch = 1.55;

}  // namespace

double MarkerRow(double char_h) { return 1 - 1.9 * kBigMarkerText * 0.5 * char_h - 0.01; }
double AnnotationRow(double char_h, size_t k) {
  return 1 - (3.3 + 1.45 * static_cast<double>(k)) * kAnnotationText * char_h - 0.015;
}

double BandFor(size_t annotations, double char_h) {
  if (annotations == 0) return 0.04;
  return 1 - AnnotationRow(char_h, annotations - 1) + 0.8 * kAnnotationText * char_h;
}

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
      parts.push_back(absl::StrCat("✕ ", s.first_nonfinite, " at step ", *s.first_nonfinite_step));
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

double AnnotationX(const Annotation& a, const PlotLayout& layout, double char_w) {
  const double fx = (a.x - layout.x_min) / (layout.x_max - layout.x_min);
  const double w =
      kCharAdvance * kAnnotationText * char_w * static_cast<double>(Utf8Length(a.text));
  if (fx + 0.012 + w <= 0.99) return fx + 0.012;
  return std::max(0.01, fx - 0.012 - w);
}

bool ThinPolyline(std::vector<double>& xs, std::vector<double>& ys, double x_min, double x_max,
                  int columns) {
  const size_t n = std::min(xs.size(), ys.size());
  if (n <= size_t{4} * static_cast<size_t>(columns) || !(x_max > x_min)) return false;
  const double per_x = columns / (x_max - x_min);
  const auto column_of = [&](size_t k) { return std::floor((xs[k] - x_min) * per_x); };
  size_t kept = 0;
  for (size_t first = 0; first < n;) {
    const double column = column_of(first);
    size_t last = first, lowest = first, highest = first;
    while (last + 1 < n && column_of(last + 1) == column) {
      ++last;
      if (ys[last] < ys[lowest]) lowest = last;
      if (ys[last] > ys[highest]) highest = last;
    }
    size_t picks[] = {first, lowest, highest, last};
    std::sort(std::begin(picks), std::end(picks));
    // In place: every pick is at or after the points already kept.
    for (size_t k = 0; k < 4; ++k) {
      if (k > 0 && picks[k] == picks[k - 1]) continue;
      xs[kept] = xs[picks[k]];
      ys[kept] = ys[picks[k]];
      ++kept;
    }
    first = last + 1;
  }
  xs.resize(kept);
  ys.resize(kept);
  return true;
}

bool DrawsValidationMarkers(const PlotSeries& s) {
  return std::min(s.val_steps.size(), s.val_losses.size()) <=
         static_cast<size_t>(kMaxValidationMarkers);
}

std::vector<std::pair<double, double>> CurvePoints(const PlotInput& input,
                                                   const PlotLayout& layout) {
  const auto fx_of = [&](double step) {
    return (step - layout.x_min) / (layout.x_max - layout.x_min);
  };
  // Each curve's polylines in figure fractions, thinned; a non-finite value, or one that a log
  // axis cannot show, breaks the line.
  std::vector<std::pair<std::vector<double>, std::vector<double>>> lines;
  const auto trace = [&](size_t count, const auto& step_at, const auto& value_at) {
    std::vector<double> xs, ys;
    const auto flush = [&] {
      ThinPolyline(xs, ys, 0, 1);
      if (!xs.empty()) lines.emplace_back(std::move(xs), std::move(ys));
      xs.clear();
      ys.clear();
    };
    for (size_t k = 0; k < count; ++k) {
      const float v = value_at(k);
      if (!IsFinite(v) || (layout.scale == YScale::kLog && v <= 0)) {
        flush();
        continue;
      }
      xs.push_back(fx_of(static_cast<double>(step_at(k))));
      ys.push_back(
          std::min((ToWorld(layout.scale, v) - layout.y_lo) / (layout.y_hi - layout.y_lo), 1.5));
    }
    flush();
  };
  std::vector<double> nan_lines;  // the x of each NaN marker's vertical line
  for (const PlotSeries& s : input.series) {
    trace(s.losses.size(), [](size_t k) { return k; }, [&](size_t k) { return s.losses[k]; });
    if (s.first_nonfinite_step) nan_lines.push_back(fx_of(*s.first_nonfinite_step));
    trace(std::min(s.val_steps.size(), s.val_losses.size()),
          [&](size_t k) { return s.val_steps[k]; }, [&](size_t k) { return s.val_losses[k]; });
  }
  // Points every 0.005 along each segment (at most 200 per segment) so that a label box
  // crossing a segment is seen; spaced out further when there would be too many.
  const auto pieces = [](double dx, double dy, double spacing) {
    return std::min(200, static_cast<int>(std::hypot(dx, dy) / spacing));
  };
  double spacing = 0.005;
  size_t total = 201 * nan_lines.size();
  for (const auto& [xs, ys] : lines) {
    total += xs.size();
    for (size_t k = 1; k < xs.size(); ++k) {
      total += static_cast<size_t>(std::max(0, pieces(xs[k] - xs[k - 1], ys[k] - ys[k - 1],
                                                      spacing) - 1));
    }
  }
  if (total > kMaxCurvePoints) spacing *= static_cast<double>(total) / kMaxCurvePoints;
  std::vector<std::pair<double, double>> points;
  points.reserve(std::min(total, kMaxCurvePoints + 201 * nan_lines.size()));
  for (const auto& [xs, ys] : lines) {
    for (size_t k = 0; k < xs.size(); ++k) {
      if (k > 0) {
        const int n = pieces(xs[k] - xs[k - 1], ys[k] - ys[k - 1], spacing);
        for (int j = 1; j < n; ++j) {
          const double t = static_cast<double>(j) / n;
          points.emplace_back(xs[k - 1] + t * (xs[k] - xs[k - 1]),
                              ys[k - 1] + t * (ys[k] - ys[k - 1]));
        }
      }
      points.emplace_back(xs[k], ys[k]);
    }
  }
  for (const double fx : nan_lines) {
    for (int k = 0; k <= 200; ++k) points.emplace_back(fx, k / 200.0);
  }
  // Still too many (thinned curves' own vertices): every k-th, which keeps their spread.
  if (points.size() > kMaxCurvePoints) {
    const size_t stride = (points.size() + kMaxCurvePoints - 1) / kMaxCurvePoints;
    size_t kept = 0;
    for (size_t k = 0; k < points.size(); k += stride) points[kept++] = points[k];
    points.resize(kept);
  }
  return points;
}

LegendSpot PlaceLegend(const std::vector<std::pair<double, double>>& points,
                       const std::vector<Box>& avoid, double width, double height) {
  constexpr double kMargin = 0.012;
  constexpr int kSteps = 24;
  // The candidates: kSteps + 1 columns (left edges x0s) by kSteps + 1 rows (top edges y1s).
  std::array<double, kSteps + 1> x0s, y1s;
  for (int i = 0; i <= kSteps; ++i) {
    x0s[i] = kMargin + std::max(0.0, 1 - 2 * kMargin - width) * i / kSteps;
    y1s[i] = 1 - kMargin - std::max(0.0, 1 - 2 * kMargin - height) * i / kSteps;
  }
  const auto box_at = [&](int i, int j) {
    return Box{x0s[i], y1s[j] - height, x0s[i] + width, y1s[j]};
  };
  // The points under each candidate (Box::Contains, edges included), counted in one sweep
  // rather than one pass per candidate (a large job's figures have up to kMaxCurvePoints): in x
  // order, column i's points are a run [first[i], last[i]), and the row-j ones among them are
  // row j's count at last[i] minus its count at first[i].
  std::vector<std::pair<double, double>> by_x = points;
  std::sort(by_x.begin(), by_x.end());
  std::array<size_t, kSteps + 1> first, last;
  std::vector<size_t> marks;
  for (int i = 0; i <= kSteps; ++i) {
    const Box column = box_at(i, 0);
    const auto x_of = [](const std::pair<double, double>& p, double x) { return p.first < x; };
    const auto x_below = [](double x, const std::pair<double, double>& p) { return x < p.first; };
    first[i] = std::lower_bound(by_x.begin(), by_x.end(), column.x0, x_of) - by_x.begin();
    last[i] = std::upper_bound(by_x.begin(), by_x.end(), column.x1, x_below) - by_x.begin();
    marks.push_back(first[i]);
    marks.push_back(last[i]);
  }
  std::sort(marks.begin(), marks.end());
  marks.erase(std::unique(marks.begin(), marks.end()), marks.end());
  // row_counts[m][j]: among the first marks[m] points in x order, those inside row j.
  std::vector<std::array<long, kSteps + 1>> row_counts(marks.size());
  std::array<long, kSteps + 1> counts{};
  size_t next = 0;
  for (size_t m = 0; m < marks.size(); ++m) {
    for (; next < marks[m]; ++next) {
      const double y = by_x[next].second;
      for (int j = 0; j <= kSteps; ++j) counts[j] += y >= y1s[j] - height && y <= y1s[j];
    }
    row_counts[m] = counts;
  }
  const auto at_mark = [&](size_t index) -> const std::array<long, kSteps + 1>& {
    return row_counts[std::lower_bound(marks.begin(), marks.end(), index) - marks.begin()];
  };

  LegendSpot best{1 - kMargin - width, 1 - kMargin, std::numeric_limits<long>::max()};
  double best_cost = std::numeric_limits<double>::max();
  for (int i = 0; i <= kSteps; ++i) {
    const std::array<long, kSteps + 1>& before = at_mark(first[i]);
    const std::array<long, kSteps + 1>& through = at_mark(last[i]);
    for (int j = 0; j <= kSteps; ++j) {
      const Box box = box_at(i, j);
      const long covered = through[j] - before[j];
      double cost = static_cast<double>(covered);
      for (const Box& a : avoid) cost += box.Overlaps(a) ? 1e6 : 0;
      const double edge = std::min(box.x0, 1 - box.x1) + std::min(box.y0, 1 - box.y1);
      cost += edge + 0.001 * ((1 - box.x1) + (1 - box.y1));
      if (cost < best_cost) {
        best_cost = cost;
        best = LegendSpot{box.x0, box.y1, covered};
      }
    }
  }
  return best;
}

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

Box PlaceLineLabel(const std::vector<std::pair<double, double>>& points, double fy, double w,
                   double h, double char_w, double char_h) {
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
  return best;
}

LossFigurePlan PlanLossFigure(const PlotInput& input, YScale scale) {
  LossFigurePlan plan;
  const int n = static_cast<int>(input.series.size());
  plan.any_validation = std::any_of(input.series.begin(), input.series.end(),
                                    [](const PlotSeries& s) { return !s.val_steps.empty(); });
  // The legend's entries: one per run, then a key to the line styles when there is validation.
  plan.entries = n + (plan.any_validation ? 2 : 0);

  // The legend: inside the axes where it hides no curve, else below them in one or two
  // columns, with the axes shortened to make room.
  double longest_label = 0;  // in character heights
  for (const PlotSeries& s : input.series) {
    longest_label =
        std::max(longest_label, kCharAdvance * static_cast<double>(Utf8Length(s.label)));
  }
  if (plan.any_validation) {
    longest_label =
        std::max(longest_label, kCharAdvance * static_cast<double>(Utf8Length(kValKey)));
  }
  plan.longest_label = longest_label;
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
  plan.header = header_for(PlanPlot(input, scale, 0.8 - box_bottom));
  const double box_top = plan.header.bottom;
  plan.layout = PlanPlot(input, scale, box_top - box_bottom);
  if (n > 0) {
    const double char_h = kDefaultCharHeight / (box_top - box_bottom);
    const double char_w = kDefaultCharHeight * aspect / (kBoxRight - kBoxLeft);
    const double height = (kLegendSpacing * plan.entries + 0.6) * kLegendText * char_h;
    const LegendSpot spot = PlaceLegend(
        CurvePoints(input, plan.layout),
        BandBoxes(input, plan.layout, Annotations(input, plan.layout), char_w, char_h),
        legend_width(kBoxRight - kBoxLeft), height);
    if (spot.covered > 2) {
      plan.legend_inside = false;
      plan.legend_columns = legend_width(kBoxRight - kBoxLeft) * 2 <= 0.98 ? 2 : 1;
      const int rows = (plan.entries + plan.legend_columns - 1) / plan.legend_columns;
      box_bottom += (kLegendSpacing * rows + 0.4) * kLegendText * kDefaultCharHeight + 0.01;
      plan.layout = PlanPlot(input, scale, box_top - box_bottom);
    }
  }
  PlotLayout& layout = plan.layout;
  layout.box_left = kBoxLeft * kPlotWidth;
  layout.box_right = kBoxRight * kPlotWidth;
  layout.box_top = (1 - box_top) * kPlotHeight;
  // The final note, in as many lines as the header planned for it.
  {
    const Header final_header = header_for(layout);
    if (final_header.lines.size() == plan.header.lines.size()) plan.header = final_header;
  }
  layout.box_bottom = (1 - box_bottom) * kPlotHeight;
  plan.annotations = Annotations(input, layout);
  for (const Annotation& a : plan.annotations) layout.annotations.push_back(a.text);
  plan.box_top = box_top;
  plan.box_bottom = box_bottom;
  return plan;
}

}  // namespace figure

using figure::BandFor;
using figure::FromWorld;
using figure::IsFinite;
using figure::kDefaultCharHeight;
using figure::kTickText;

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
    const double q98 = core::Percentile(pool, 98);
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
  // An outlier (above kClipFactor x the 98th percentile, so not counted in the range) can still
  // fit under the axis's top, padded for the annotations: it is drawn, and the sentence that
  // states the plotted range names it rather than leave it out unsaid.
  std::vector<std::string> drawn_outliers;
  for (const PlotSeries& s : input.series) {
    const auto note = [&](float v, int step, const char* what) {
      if (IsFinite(v) && v > top && v <= axis_top) {
        drawn_outliers.push_back(absl::StrCat(s.name, what, " ", Sig(v, 2), " at step ", step));
      }
    };
    for (size_t step = 0; step < s.losses.size(); ++step) {
      note(s.losses[step], static_cast<int>(step), "");
    }
    for (size_t k = 0; k < s.val_losses.size() && k < s.val_steps.size(); ++k) {
      note(s.val_losses[k], s.val_steps[k], "'s validation");
    }
  }
  if (drawn_outliers.size() > 3) {  // the first three, as the annotations list clipped points
    const size_t more = drawn_outliers.size() - 3;
    drawn_outliers.resize(3);
    drawn_outliers.push_back(absl::StrCat("and ", more, " more"));
  }
  layout.reason =
      pool.empty()
          ? "no finite loss to plot"
          : absl::StrCat(
                "the plotted losses (", Sig(min_positive, 2), " to ", Sig(top, 2),
                drawn_outliers.empty()
                    ? std::string()
                    : absl::StrCat(", besides ", absl::StrJoin(drawn_outliers, ", "),
                                   ", drawn above that range but, being over ", Sig(kClipFactor, 2),
                                   " × the losses' 98th percentile, not counted"),
                ") span ", Sig(layout.decades, 2), " decades, ",
                layout.decades > kLogDecades ? "more" : "not more", " than ", Sig(kLogDecades, 2));
  return layout;
}

YScale ChooseScale(const PlotInput& input, std::string* reason) {
  const PlotLayout layout = PlanPlot(input, YScale::kLog);
  if (reason != nullptr) *reason = layout.reason;
  return layout.decades > kLogDecades ? YScale::kLog : YScale::kLinear;
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

}  // namespace ablate::artifacts
