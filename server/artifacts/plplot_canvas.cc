#include "server/artifacts/plplot_canvas.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
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

}  // namespace

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
