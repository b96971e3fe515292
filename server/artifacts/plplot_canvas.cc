#include "server/artifacts/plplot_canvas.h"

#include <cairo.h>
#include <libdeflate.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/artifacts/figure_style.h"

namespace ablate::artifacts::figure {
namespace {

// PLplot keeps its streams in process-wide state: one figure at a time.
std::mutex& PlplotMutex() {
  static std::mutex mutex;
  return mutex;
}

void SetColor(int index, uint32_t rgb) {
  plscol0(index, static_cast<int>((rgb >> 16) & 0xff), static_cast<int>((rgb >> 8) & 0xff),
          static_cast<int>(rgb & 0xff));
}

bool ExtCairoAvailable() {
  constexpr int kMaxDevices = 128;
  const char* menu[kMaxDevices];
  const char* names[kMaxDevices];
  const char** menu_list = menu;
  const char** name_list = names;
  int count = kMaxDevices;
  plgDevs(&menu_list, &name_list, &count);
  for (int i = 0; i < count; ++i) {
    if (std::string_view(name_list[i]) == "extcairo") return true;
  }
  return false;
}

constexpr size_t kPixels = size_t{kPlotWidth} * kPlotHeight;
constexpr size_t kRowBytes = 1 + size_t{3} * kPlotWidth;  // a PNG row: filter byte, R, G, B…
constexpr size_t kRowsBytes = kRowBytes * kPlotHeight;

// What a figure needs besides PLplot: the image cairo draws on (CAIRO_FORMAT_RGB24: one 32-bit
// word per pixel, 0x00RRGGBB, rows top to bottom), which EncodePng then turns into the PNG's
// rows, and libdeflate's compressor and output. About 6.6 MB once used: the output buffer is
// as large as the worst case (4.8 MB) but only the pages a figure's few hundred KB reach are
// ever touched.
struct Canvas {
  std::unique_ptr<uint32_t[]> image{new uint32_t[kPixels]};
  std::unique_ptr<libdeflate_compressor, void (*)(libdeflate_compressor*)> compressor{
      libdeflate_alloc_compressor(2), libdeflate_free_compressor};
  size_t bound = compressor ? libdeflate_zlib_compress_bound(compressor.get(), kRowsBytes) : 0;
  std::unique_ptr<unsigned char[]> deflated{new unsigned char[bound]};  // uninitialised
};

// Canvases are kept for the next figures, at most kKeptCanvases of them (one per finishing
// thread, up to 4, about 26 MB): new memory costs a page fault per 4 KiB, about 25 ms for a
// figure's image on a VM, more than cairo takes to draw it. Figures drawn at once beyond that
// (several finishing threads and class views together) get canvases of their own, dropped
// after.
constexpr size_t kKeptCanvases = 4;

class CanvasShelf {
 public:
  std::unique_ptr<Canvas> Take() {
    {
      std::lock_guard lock(mutex_);
      if (!kept_.empty()) {
        std::unique_ptr<Canvas> canvas = std::move(kept_.back());
        kept_.pop_back();
        return canvas;
      }
    }
    return std::make_unique<Canvas>();
  }
  void Return(std::unique_ptr<Canvas> canvas) {
    std::lock_guard lock(mutex_);
    if (kept_.size() < kKeptCanvases) kept_.push_back(std::move(canvas));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<Canvas>> kept_;
};

CanvasShelf& Shelf() {
  static CanvasShelf* shelf = new CanvasShelf;  // never destroyed: figures may outlive main
  return *shelf;
}

void AppendBigEndian(uint32_t value, std::string* out) {
  const char bytes[4] = {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                         static_cast<char>(value >> 8), static_cast<char>(value)};
  out->append(bytes, 4);
}

// One PNG chunk: length, type, data, and the CRC-32 of type and data (PNG specification, 5.3).
void AppendChunk(const char (&type)[5], std::string_view data, std::string* out) {
  AppendBigEndian(static_cast<uint32_t>(data.size()), out);
  out->append(type, 4);
  out->append(data);
  uint32_t crc = libdeflate_crc32(0, type, 4);
  if (!data.empty()) crc = libdeflate_crc32(crc, data.data(), data.size());
  AppendBigEndian(crc, out);
}

// Appends to `out` the PNG of the figure on `canvas` as 8-bit RGB, overwriting its image. Each
// row becomes its filter byte (0: none) and its pixels' R, G, B, in place: row y's bytes start
// at 4801·y, never after its pixels' words at 6400·y, and each pixel is read before its bytes
// are written. The rows are then deflated as one zlib stream by libdeflate at its level 2.
// A figure is mostly flat colour, for which no row filter compresses as small as libpng's
// adaptive filters and several times faster. Against libpng with zlib at level 3 (row by row,
// zlib's adler32 a tenth of its time), lab 1's figures come out 8-12 % smaller and its job's
// end takes 13 % less CPU (tests/bench/bench_job_end). False on an error.
bool EncodePng(Canvas& canvas, std::string* out) {
  if (canvas.compressor == nullptr) return false;
  const uint32_t* const image = canvas.image.get();
  unsigned char* const rows = reinterpret_cast<unsigned char*>(canvas.image.get());
  for (size_t y = 0; y < size_t{kPlotHeight}; ++y) {
    const uint32_t* pixel = image + size_t{kPlotWidth} * y;
    unsigned char* byte = rows + kRowBytes * y;
    const uint32_t first = pixel[0];  // row 0's filter byte lies on its first pixel
    *byte++ = 0;
    for (size_t x = 0; x < size_t{kPlotWidth}; ++x) {
      const uint32_t rgb = x == 0 ? first : pixel[x];
      *byte++ = static_cast<unsigned char>(rgb >> 16);
      *byte++ = static_cast<unsigned char>(rgb >> 8);
      *byte++ = static_cast<unsigned char>(rgb);
    }
  }
  const size_t size = libdeflate_zlib_compress(canvas.compressor.get(), rows, kRowsBytes,
                                               canvas.deflated.get(), canvas.bound);
  if (size == 0) return false;

  std::string header;
  AppendBigEndian(kPlotWidth, &header);
  AppendBigEndian(kPlotHeight, &header);
  // 8 bits per sample, colour type 2 (RGB), deflate, the adaptive filter method, no interlace.
  header.append("\x08\x02\x00\x00\x00", 5);
  out->reserve(out->size() + size + 64);
  out->append("\x89PNG\r\n\x1a\n", 8);
  AppendChunk("IHDR", header, out);
  AppendChunk("IDAT", std::string_view(reinterpret_cast<const char*>(canvas.deflated.get()), size),
              out);
  AppendChunk("IEND", {}, out);
  return true;
}

}  // namespace

absl::StatusOr<std::string> DrawPng(const std::vector<uint32_t>& run_colors,
                                    const std::function<void()>& draw) {
  std::unique_ptr<Canvas> canvas;
  {
    std::lock_guard lock(PlplotMutex());
    // plinit exits the process when the driver is missing: check first.
    if (!ExtCairoAvailable()) {
      return absl::InternalError(
          "PLplot has no extcairo driver: install plplot-driver-cairo to draw the figures.");
    }
    // Taken under the lock, so that threads waiting for their turn hold no image: a canvas is
    // in use only while its figure is drawn or encoded.
    canvas = Shelf().Take();
    // PLplot's extcairo driver draws with a cairo context of ours, over what the image holds:
    // start from the white background.
    uint32_t* const image = canvas->image.get();
    std::fill(image, image + kPixels, 0x00FFFFFFu);
    const std::unique_ptr<cairo_surface_t, void (*)(cairo_surface_t*)> surface(
        cairo_image_surface_create_for_data(reinterpret_cast<unsigned char*>(image),
                                            CAIRO_FORMAT_RGB24, kPlotWidth, kPlotHeight,
                                            kPlotWidth * 4),
        cairo_surface_destroy);
    const std::unique_ptr<cairo_t, void (*)(cairo_t*)> context(cairo_create(surface.get()),
                                                               cairo_destroy);
    if (cairo_status(context.get()) != CAIRO_STATUS_SUCCESS) {
      return absl::InternalError(absl::StrCat("cairo cannot draw the figure: ",
                                              cairo_status_to_string(cairo_status(context.get()))));
    }
    PLINT stream = 0;
    plmkstrm(&stream);
    plsdev("extcairo");
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
    pl_cmd(PLESC_DEVINIT, context.get());
    draw();
    plend1();
  }  // the context and surface are released here, the drawing finished
  std::string png;
  const bool encoded = EncodePng(*canvas, &png);
  Shelf().Return(std::move(canvas));
  if (!encoded) return absl::InternalError("cannot encode the figure as PNG.");
  return png;
}

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

void LogLabel(PLINT axis, PLFLT value, char* label, PLINT length, PLPointer) {
  if (axis == PL_Y_AXIS) {
    std::snprintf(label, static_cast<size_t>(length), "10#u%ld#d", std::lround(value));
  } else {
    std::snprintf(label, static_cast<size_t>(length), "%g", value);
  }
}

}  // namespace ablate::artifacts::figure
