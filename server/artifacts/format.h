// How the files write numbers and times, in one place so that the README and the manifest
// print the same value the same way.
#ifndef ABLATE_SERVER_ARTIFACTS_FORMAT_H_
#define ABLATE_SERVER_ARTIFACTS_FORMAT_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace ablate::artifacts {

// The shortest decimal that reads back as exactly `value` in float32 ("0.538792", "1e+12");
// "nan", "inf" or "-inf" when not finite. Losses are float32: this is how every file writes them.
std::string ShortestFloat(float value);

// The double nearest to ShortestFloat(value): JSON writers print it as that same short decimal,
// and parsing it as a double then rounding to float32 gives `value` back exactly (double has more
// than 2·24+2 bits, so the double rounding is innocuous). Requires a finite value.
double FloatForJson(float value);

// `value` with `digits` significant digits, %g style: "0.000498", "2.35e+23".
std::string Sig(double value, int digits = 3);

// How prose and figures name a non-finite loss of kind "nan", "inf" or "-inf" (the files' own
// spelling, RunSummary::nonfinite): "NaN", "+inf", "-inf".
std::string NonFiniteLabel(const std::string& kind);

// A fraction as a percentage with `digits` significant digits: 0.1693 -> "16.9%".
std::string Percent(double fraction, int digits = 3);

// RFC 3339 in UTC with the seconds' fraction, "2024-05-01T12:00:00.25Z"; nothing when unset.
std::optional<std::string> TimestampString(const google::protobuf::Timestamp& time);
std::string TimeString(absl::Time time);
absl::Time ToAbslTime(const google::protobuf::Timestamp& time);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_FORMAT_H_
