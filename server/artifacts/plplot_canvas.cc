#include "server/artifacts/plplot_canvas.h"

#include <png.h>
#include <zlib.h>

#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <mutex>
#include <new>
#include <string_view>

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

bool MemCairoAvailable() {
  constexpr int kMaxDevices = 128;
  const char* menu[kMaxDevices];
  const char* names[kMaxDevices];
  const char** menu_list = menu;
  const char** name_list = names;
  int count = kMaxDevices;
  plgFileDevs(&menu_list, &name_list, &count);
  for (int i = 0; i < count; ++i) {
    if (std::string_view(name_list[i]) == "memcairo") return true;
  }
  return false;
}

// Appends to `out` the PNG of `rgb` (kPlotWidth × kPlotHeight, 8-bit RGB, rows top to bottom).
// No row filter and zlib level 3: a figure is mostly flat colour, for which that is as small as
// libpng's default (adaptive filters, level 6) and four times faster, and a job's end spends
// most of its time here. libpng reports an error by longjmp, so nothing with a destructor is
// made or changed here after the setjmp but `out`, which is the caller's. False on an error.
bool EncodePng(const std::vector<unsigned char>& rgb, std::string* out) {
  png_structp writer = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = writer == nullptr ? nullptr : png_create_info_struct(writer);
  if (info == nullptr) {
    png_destroy_write_struct(&writer, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(writer))) {
    png_destroy_write_struct(&writer, &info);
    return false;
  }
  png_set_write_fn(
      writer, out,
      [](png_structp w, png_bytep data, png_size_t size) {
        try {
          static_cast<std::string*>(png_get_io_ptr(w))->append(reinterpret_cast<char*>(data), size);
        } catch (const std::bad_alloc&) {
          png_error(w, "out of memory");  // no exception through libpng's C frames
        }
      },
      nullptr);
  png_set_IHDR(writer, info, kPlotWidth, kPlotHeight, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_filter(writer, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
  png_set_compression_level(writer, 3);
  png_write_info(writer, info);
  for (int y = 0; y < kPlotHeight; ++y) {
    png_write_row(writer, &rgb[size_t{3} * kPlotWidth * static_cast<size_t>(y)]);
  }
  png_write_end(writer, info);
  png_destroy_write_struct(&writer, &info);
  return true;
}

}  // namespace

absl::StatusOr<std::string> DrawPng(const std::vector<uint32_t>& run_colors,
                                    const std::function<void()>& draw) {
  // PLplot's memcairo driver draws over the image it is given: start from the white background.
  std::vector<unsigned char> rgb(size_t{3} * kPlotWidth * kPlotHeight, 255);
  {
    std::lock_guard lock(PlplotMutex());
    // plinit exits the process when the driver is missing: check first.
    if (!MemCairoAvailable()) {
      return absl::InternalError(
          "PLplot has no memcairo driver: install plplot-driver-cairo to draw the figures.");
    }
    PLINT stream = 0;
    plmkstrm(&stream);
    plsdev("memcairo");
    plsmem(kPlotWidth, kPlotHeight, rgb.data());
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
  std::string png;
  if (!EncodePng(rgb, &png)) return absl::InternalError("cannot encode the figure as PNG.");
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
