// Fitting the figures' text to the page: a width estimate for PLplot's cairo text and line
// breaking, so that titles, subtitles and notes never run off the image, whatever the job's
// name or configuration.
#ifndef ABLATE_SERVER_ARTIFACTS_TEXT_FIT_H_
#define ABLATE_SERVER_ARTIFACTS_TEXT_FIT_H_

#include <string>
#include <string_view>
#include <vector>

namespace ablate::artifacts {

// The advance width of `text` (UTF-8) drawn at `size` times PLplot's default character
// height, in default character heights. From DejaVu Sans' advance widths (the font the
// cairo driver resolves "sans" to); characters outside its table count as the widest
// (an em), so the estimate errs on the wide side.
double TextWidth(std::string_view text, double size);

// `text` broken into at most `max_lines` lines, each at most `max_width` wide (TextWidth at
// `size`). Breaks go after the strongest separator that fits, in the order " — ", " · ",
// ": ", ", ", " "; a piece that fits no line (a long name without spaces) is cut in the middle
// with "…", and so is the last line when the text needs more lines than allowed. Requires
// max_lines >= 1.
std::vector<std::string> FitLines(std::string_view text, double size, double max_width,
                                  int max_lines);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_TEXT_FIT_H_
