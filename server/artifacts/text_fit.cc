#include "server/artifacts/text_fit.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace ablate::artifacts {
namespace {

// DejaVu Sans' advance widths in ems (hmtx / unitsPerEm 2048) for U+0020 … U+007E.
constexpr std::array<double, 95> kAsciiAdvance = {
    0.318, 0.401, 0.460, 0.838, 0.636, 0.950, 0.780, 0.275, 0.390, 0.390, 0.500, 0.838,
    0.318, 0.361, 0.318, 0.337, 0.636, 0.636, 0.636, 0.636, 0.636, 0.636, 0.636, 0.636,
    0.636, 0.636, 0.337, 0.337, 0.838, 0.838, 0.838, 0.531, 1.000, 0.684, 0.686, 0.698,
    0.770, 0.632, 0.575, 0.775, 0.752, 0.295, 0.295, 0.656, 0.557, 0.863, 0.748, 0.787,
    0.603, 0.787, 0.695, 0.635, 0.611, 0.732, 0.684, 0.989, 0.685, 0.611, 0.685, 0.390,
    0.337, 0.390, 0.838, 0.500, 0.500, 0.613, 0.635, 0.550, 0.635, 0.615, 0.352, 0.635,
    0.634, 0.278, 0.278, 0.579, 0.278, 0.974, 0.634, 0.612, 0.635, 0.635, 0.411, 0.521,
    0.392, 0.634, 0.592, 0.818, 0.592, 0.592, 0.525, 0.636, 0.337, 0.636, 0.838};

// The font's em in PLplot character heights on the cairo driver, measured: a line of 40
// "M"s (0.863 em each) at size 0.95 is 1115 px wide, 40 × 0.863 × 0.95 × 1.31 character
// heights of 26 px (kDefaultCharHeight); rounded up.
constexpr double kEmPerCharHeight = 1.32;

// The next code point of `text` from byte `i` (advancing `i`); malformed bytes count as one
// character each.
uint32_t NextCodePoint(std::string_view text, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  const int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  uint32_t cp = extra == 0 ? c : c & (0x3F >> extra);
  ++i;
  for (int k = 0; k < extra && i < text.size() && (byte(i) & 0xC0) == 0x80; ++k, ++i) {
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  return cp;
}

double Advance(uint32_t cp) {
  if (cp >= 0x20 && cp <= 0x7E) return kAsciiAdvance[cp - 0x20];
  switch (cp) {
    case 0x00B7: return 0.318;  // ·
    case 0x2013: return 0.500;  // –
    case 0x00D7: return 0.838;  // ×
    case 0x2070: case 0x00B9: case 0x00B2: case 0x00B3: return 0.401;  // superscripts
    case 0x207B: return 0.528;  // ⁻
    default: return 1.0;        // —, …, ▲, ✕, ○ and anything else: at most an em
  }
}

// The longest prefix of `text`, whole code points, no wider than `width` at `size`.
size_t PrefixFitting(std::string_view text, double size, double width) {
  size_t i = 0, fits = 0;
  double w = 0;
  while (i < text.size()) {
    const size_t start = i;
    w += Advance(NextCodePoint(text, i)) * kEmPerCharHeight * size;
    if (w > width) return start;
    fits = i;
  }
  return fits;
}

// `text` shortened to `width` by replacing its middle with "…".
std::string CutMiddle(std::string_view text, double size, double width) {
  if (TextWidth(text, size) <= width) return std::string(text);
  const double half = (width - TextWidth("…", size)) / 2;
  const size_t head = PrefixFitting(text, size, half);
  // The tail: the shortest suffix no wider than `half`, starting on a code point.
  size_t tail = text.size();
  while (tail > head) {
    size_t start = tail - 1;
    while (start > head && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    if (TextWidth(text.substr(start), size) > half) break;
    tail = start;
  }
  return std::string(text.substr(0, head)) + "…" + std::string(text.substr(tail));
}

}  // namespace

double TextWidth(std::string_view text, double size) {
  double w = 0;
  for (size_t i = 0; i < text.size();) w += Advance(NextCodePoint(text, i));
  return w * kEmPerCharHeight * size;
}

std::vector<std::string> FitLines(std::string_view text, double size, double max_width,
                                  int max_lines) {
  // Separators, strongest first, and what of each stays at the end of its line.
  struct Separator {
    std::string_view text, kept;
  };
  constexpr Separator kSeparators[] = {
      {" — ", ""}, {" · ", ""}, {": ", ":"}, {", ", ","}, {" ", ""}};
  std::vector<std::string> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    if (static_cast<int>(lines.size()) == max_lines - 1 || TextWidth(rest, size) <= max_width) {
      lines.push_back(CutMiddle(rest, size, max_width));
      break;
    }
    // The strongest separator whose last fitting break fills at least a third of the line;
    // else the longest line any break allows.
    const size_t fits = PrefixFitting(rest, size, max_width);
    size_t best_end = std::string_view::npos, best_next = 0;
    std::string best_kept;
    double best_width = -1;
    for (const Separator& sep : kSeparators) {
      size_t at = rest.rfind(sep.text, fits);
      while (at != std::string_view::npos && at > 0 &&
             TextWidth(std::string(rest.substr(0, at)) + std::string(sep.kept), size) > max_width) {
        at = rest.rfind(sep.text, at - 1);
      }
      if (at == std::string_view::npos || at == 0) continue;
      const double width =
          TextWidth(std::string(rest.substr(0, at)) + std::string(sep.kept), size);
      if (width > best_width) {
        best_end = at;
        best_next = at + sep.text.size();
        best_kept = std::string(sep.kept);
        best_width = width;
      }
      if (width >= max_width / 3) {
        best_end = at;
        best_next = at + sep.text.size();
        best_kept = std::string(sep.kept);
        break;
      }
    }
    if (best_end == std::string_view::npos) {
      // No break fits: the first word alone is too wide. Cut it and go on after it.
      const size_t space = rest.find(' ');
      const std::string_view word = rest.substr(0, space);
      lines.push_back(CutMiddle(word, size, max_width));
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      continue;
    }
    lines.push_back(std::string(rest.substr(0, best_end)) + best_kept);
    rest = rest.substr(best_next);
  }
  return lines;
}

}  // namespace ablate::artifacts
