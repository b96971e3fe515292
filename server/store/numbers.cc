#include "server/store/numbers.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ablate::store {
namespace {

using Json = nlohmann::ordered_json;  // keeps the fields in proto order, for people reading it

// LayerStatsRecord's fields, in the wire schema's order. The JSON keys must stay the proto
// field names that SQL paths ('$[0].weight_variance') and old rows rely on. An optional field is
// written only when set and read back unset when absent.
struct StatsField {
  const char* name;
  const char* class_name;
  double LayerStatsRecord::* value = nullptr;
  std::optional<double> LayerStatsRecord::* optional = nullptr;
};
constexpr StatsField kStatsFields[] = {
    {"weight_variance", "weight_variance_class", &LayerStatsRecord::weight_variance},
    {"activation_mean", "activation_mean_class", &LayerStatsRecord::activation_mean},
    {"activation_std", "activation_std_class", &LayerStatsRecord::activation_std},
    {"first_step_grad_norm", "first_step_grad_norm_class", nullptr,
     &LayerStatsRecord::first_step_grad_norm},
};

absl::Status Corrupt(absl::string_view what, absl::string_view why) {
  return absl::DataLossError(absl::StrCat(what, " in the database is not valid: ", why));
}

}  // namespace

const char* NonFiniteClass(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return nullptr;
}

std::optional<double> NonFiniteValue(absl::string_view cls) {
  if (cls == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (cls == "inf") return std::numeric_limits<double>::infinity();
  if (cls == "-inf") return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

// nlohmann writes a double as the shortest decimal that reads back as the same bits, always
// with a '.' or an exponent ("-0.0", "1e-05", "1e-320", "2.0"), so a reader (SQLite's json
// functions included) never takes it for an integer and loses -0.0's sign.
std::string StatsToJson(const std::vector<LayerStatsRecord>& stats) {
  Json array = Json::array();
  for (const LayerStatsRecord& layer : stats) {
    Json object = Json::object();
    for (const StatsField& field : kStatsFields) {
      if (field.optional != nullptr && !(layer.*field.optional)) continue;
      const double value =
          field.optional != nullptr ? *(layer.*field.optional) : layer.*field.value;
      if (const char* cls = NonFiniteClass(value); cls != nullptr) {
        object[field.name] = nullptr;
        object[field.class_name] = cls;
      } else {
        object[field.name] = value;
      }
    }
    array.push_back(std::move(object));
  }
  return array.dump();
}

absl::Status StatsFromJson(absl::string_view json, std::vector<LayerStatsRecord>* stats,
                           absl::string_view what) {
  stats->clear();
  if (json == "[]") return absl::OkStatus();  // every unfinished run
  const Json array = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (!array.is_array()) return Corrupt(what, "not a JSON array");
  for (const Json& object : array) {
    if (!object.is_object()) return Corrupt(what, "an element is not an object");
    LayerStatsRecord& layer = stats->emplace_back();
    auto set = [&layer](const StatsField& field, double v) {
      if (field.optional != nullptr) {
        layer.*field.optional = v;
      } else {
        layer.*field.value = v;
      }
    };
    for (const StatsField& field : kStatsFields) {
      auto value = object.find(field.name);
      auto cls = object.find(field.class_name);
      if (field.optional != nullptr && value == object.end() && cls == object.end()) continue;
      if (value != object.end() && value->is_number() && cls == object.end()) {
        set(field, value->get<double>());
        continue;
      }
      std::optional<double> non_finite;
      if (value != object.end() && value->is_null() && cls != object.end() && cls->is_string()) {
        non_finite = NonFiniteValue(cls->get<std::string>());
      }
      if (!non_finite) {
        return Corrupt(what, absl::StrCat("\"", field.name,
                                          "\" is neither a number nor null with a class"));
      }
      set(field, *non_finite);
    }
  }
  return absl::OkStatus();
}

}  // namespace ablate::store
