#include "tests/server/artifacts/png_reader.h"

#include <png.h>

#include <algorithm>
#include <cstring>

namespace ablate::artifacts::testing {

std::optional<std::pair<int, int>> PngSize(const std::string& png) {
  static constexpr unsigned char kSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  // Signature, then the IHDR chunk: length (4), "IHDR" (4), width (4, big-endian), height (4).
  if (png.size() < 24 || std::memcmp(png.data(), kSignature, 8) != 0 ||
      png.compare(12, 4, "IHDR") != 0) {
    return std::nullopt;
  }
  const auto be32 = [&](size_t at) {
    const auto* p = reinterpret_cast<const unsigned char*>(png.data() + at);
    return static_cast<int>((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                            (uint32_t{p[2]} << 8) | p[3]);
  };
  return std::make_pair(be32(16), be32(20));
}

std::optional<Image> DecodePng(const std::string& png) {
  png_image decoder;
  std::memset(&decoder, 0, sizeof(decoder));
  decoder.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&decoder, png.data(), png.size())) return std::nullopt;
  decoder.format = PNG_FORMAT_RGB;
  Image image;
  image.width = static_cast<int>(decoder.width);
  image.height = static_cast<int>(decoder.height);
  image.rgb.resize(PNG_IMAGE_SIZE(decoder));
  if (!png_image_finish_read(&decoder, nullptr, image.rgb.data(), 0, nullptr)) {
    png_image_free(&decoder);
    return std::nullopt;
  }
  return image;
}

int CountColor(const Image& image, uint32_t rgb, int x0, int x1, int y0, int y1) {
  x0 = std::clamp(x0, 0, image.width);
  x1 = std::clamp(x1, 0, image.width);
  y0 = std::clamp(y0, 0, image.height);
  y1 = std::clamp(y1, 0, image.height);
  int count = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) count += image.Pixel(x, y) == rgb;
  }
  return count;
}

int CountColor(const Image& image, uint32_t rgb) {
  return CountColor(image, rgb, 0, image.width, 0, image.height);
}

}  // namespace ablate::artifacts::testing
