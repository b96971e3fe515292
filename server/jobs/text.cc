#include "server/jobs/text.h"

#include <cstdint>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace ablate::jobs {

namespace {

// The length of the UTF-8 sequence at text[i] and its code point, or 0 when the bytes there are
// not a valid one (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t DecodeUtf8(std::string_view text, size_t i, uint32_t& code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = 0;
  uint32_t min = 0;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xe0) == 0xc0) {
    length = 2, min = 0x80, code_point = lead & 0x1f;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, min = 0x800, code_point = lead & 0x0f;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, min = 0x10000, code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3f);
  }
  if (code_point < min || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff)) {
    return 0;
  }
  return length;
}

bool IsControl(uint32_t code_point) {
  return code_point < 0x20 || (code_point >= 0x7f && code_point <= 0x9f);
}

}  // namespace

std::string NameTextProblem(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    uint32_t code_point = 0;
    const size_t length = DecodeUtf8(text, i, code_point);
    if (length == 0) return absl::StrCat("is not valid UTF-8 (byte ", i + 1, ")");
    if (IsControl(code_point)) {
      char name[8];
      std::snprintf(name, sizeof name, "U+%04X", code_point);
      return absl::StrCat("contains the control character ", name);
    }
    i += length;
  }
  return "";
}

bool IsUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    uint32_t code_point = 0;
    const size_t length = DecodeUtf8(text, i, code_point);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string EscapeForLog(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t code_point = 0;
    const size_t length = DecodeUtf8(text, i, code_point);
    if (length == 0 || IsControl(code_point) || code_point == '\\') {
      // A C1 control is two bytes in UTF-8; each is escaped, so the reader sees both.
      const size_t bytes = length == 0 ? 1 : length;
      for (size_t k = 0; k < bytes; ++k) {
        char escaped[5];
        std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(text[i + k]));
        out += escaped;
      }
      i += bytes;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

}  // namespace ablate::jobs
