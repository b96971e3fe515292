// The PLplot side of the figures: a PNG drawn by PLplot's extcairo driver, the header's text,
// and the power-of-ten axis labels. Everything here calls PLplot; where things go is decided
// beforehand (plot_layout.h). Internal to server/artifacts.
#ifndef ABLATE_SERVER_ARTIFACTS_PLPLOT_CANVAS_H_
#define ABLATE_SERVER_ARTIFACTS_PLPLOT_CANVAS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "plplot/plplot.h"
#include "server/artifacts/plot_layout.h"

namespace ablate::artifacts::figure {

// Draws one PNG of kPlotWidth × kPlotHeight with PLplot: sets up a stream on the extcairo
// driver, drawing on a cairo image in memory (no file, nothing left behind by a killed process;
// the image is kept for the next figure), with the fixed colours and one per run
// (kFirstRun + i), calls `draw` after plinit, and returns the PNG's bytes. Figures are drawn
// one at a time (PLplot's state is process-wide). Internal when the driver is missing or the
// PNG cannot be encoded.
absl::StatusOr<std::string> DrawPng(const std::vector<uint32_t>& run_colors,
                                    const std::function<void()>& draw);

// Draws `header` on the whole page; leaves the viewport and window on the whole page.
void DrawHeader(const Header& header);

// PLplot's custom axis labels (plslabelfunc, the "o" axis option): the y axes of the layer
// figure hold log10 values, labelled as powers of ten.
void LogLabel(PLINT axis, PLFLT value, char* label, PLINT length, PLPointer);

}  // namespace ablate::artifacts::figure

#endif  // ABLATE_SERVER_ARTIFACTS_PLPLOT_CANVAS_H_
