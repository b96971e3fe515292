#include "server/artifacts/format.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_format.h"

namespace ablate::artifacts {

std::string ShortestFloat(float value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, end);
}

double FloatForJson(float value) { return std::strtod(ShortestFloat(value).c_str(), nullptr); }

std::string Sig(double value, int digits) { return absl::StrFormat("%.*g", digits, value); }

std::string NonFiniteLabel(const std::string& kind) {
  return kind == "nan" ? "NaN" : kind == "inf" ? "+inf" : kind;
}

std::string Percent(double fraction, int digits) {
  if (!std::isfinite(fraction)) return "n/a";  // an accuracy nothing measured (see RunSummary)
  return absl::StrFormat("%.*g%%", digits, 100.0 * fraction);
}

absl::Time ToAbslTime(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
}

std::optional<std::string> TimestampString(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return std::nullopt;
  return TimeString(ToAbslTime(time));
}

std::string TimeString(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone());
}

}  // namespace ablate::artifacts
