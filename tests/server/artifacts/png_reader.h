// Reads the PNGs the artifacts library writes, with libpng, for pixel checks.
#ifndef ABLATE_TESTS_SERVER_ARTIFACTS_PNG_READER_H_
#define ABLATE_TESTS_SERVER_ARTIFACTS_PNG_READER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ablate::artifacts::testing {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes a pixel
  uint32_t Pixel(int x, int y) const {
    const size_t i = 3 * (static_cast<size_t>(y) * width + x);
    return (uint32_t{rgb[i]} << 16) | (uint32_t{rgb[i + 1]} << 8) | rgb[i + 2];
  }
};

// Width and height from the IHDR chunk, after checking the 8-byte PNG signature; nothing when
// `png` is not a PNG.
std::optional<std::pair<int, int>> PngSize(const std::string& png);

// The decoded image as 8-bit RGB (alpha composited on nothing: dropped); nothing on error.
std::optional<Image> DecodePng(const std::string& png);

// Pixels of exactly `rgb` in the columns [x0, x1) and rows [y0, y1) (clamped to the image).
int CountColor(const Image& image, uint32_t rgb, int x0, int x1, int y0, int y1);
int CountColor(const Image& image, uint32_t rgb);

}  // namespace ablate::artifacts::testing

#endif  // ABLATE_TESTS_SERVER_ARTIFACTS_PNG_READER_H_
