#include "server/artifacts/init_colors.h"

namespace ablate::artifacts {

uint32_t InitColor(std::string_view init) {
  struct Entry {
    std::string_view init;
    uint32_t rgb;
  };
  static constexpr Entry kTable[] = {
      {"uniform", 0xD55E00},         {"xavier", 0x0072B2},          {"kaiming", 0x009E73},
      {"xavier_uniform", 0x56B4E9},  {"kaiming_uniform", 0xE69F00}, {"orthogonal", 0xCC79A7},
  };
  for (const Entry& entry : kTable) {
    if (entry.init == init) return entry.rgb;
  }
  return 0x000000;
}

}  // namespace ablate::artifacts
