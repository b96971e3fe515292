// How the store writes numbers that may be NaN or ±inf, in columns and in the JSON it keeps.
// Internal to the store.
//
// One rule (schema.sql spells it out): a finite value is stored as itself; a non-finite one as
// NULL beside a class that names it, "nan", "inf" or "-inf". Columns pair `x` with `x_class`;
// JSON objects pair a key "x" (a number, or null) with "x_class" (present only when x is null).
// SQL sees finite numbers only, so aggregates stay meaningful, and nothing is lost but NaN's
// sign and payload bits.
#ifndef ABLATE_SERVER_STORE_NUMBERS_H_
#define ABLATE_SERVER_STORE_NUMBERS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/store/records.h"

namespace ablate::store {

// "nan", "inf" or "-inf" for a non-finite value; nullptr for a finite one.
const char* NonFiniteClass(double value);
// The value a class names; nothing for any other text.
std::optional<double> NonFiniteValue(absl::string_view cls);

// Per-layer statistics as the JSON array runs.init_stats and runs.final_stats hold: one object
// per layer with every field under its name in ablate.proto's LayerStats. Every double reads
// back with the same bits (-0.0, subnormals and 1e-05 included; NaN as a quiet NaN).
std::string StatsToJson(const std::vector<LayerStatsRecord>& stats);
// The inverse of StatsToJson. DataLoss, naming `what`, for text it cannot have written.
absl::Status StatsFromJson(absl::string_view json, std::vector<LayerStatsRecord>* stats,
                           absl::string_view what);

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_NUMBERS_H_
