#include "server/store/numbers.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ablate::store {
namespace {

using Json = nlohmann::ordered_json;  // keeps the fields in proto order, for people reading it

// LayerStats' fields, in proto order. A table rather than reflection: four doubles, and the
// JSON keys must stay the proto names that SQL paths ('$[0].weight_variance') rely on. An
// optional field (has: its presence) is written only when set and read back unset when absent.
struct StatsField {
  const char* name;
  const char* class_name;
  double (v1::LayerStats::*get)() const;
  void (v1::LayerStats::*set)(double);
  bool (v1::LayerStats::*has)() const = nullptr;
};
constexpr StatsField kStatsFields[] = {
    {"weight_variance", "weight_variance_class", &v1::LayerStats::weight_variance,
     &v1::LayerStats::set_weight_variance},
    {"activation_mean", "activation_mean_class", &v1::LayerStats::activation_mean,
     &v1::LayerStats::set_activation_mean},
    {"activation_std", "activation_std_class", &v1::LayerStats::activation_std,
     &v1::LayerStats::set_activation_std},
    {"first_step_grad_norm", "first_step_grad_norm_class", &v1::LayerStats::first_step_grad_norm,
     &v1::LayerStats::set_first_step_grad_norm, &v1::LayerStats::has_first_step_grad_norm},
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
std::string StatsToJson(const google::protobuf::RepeatedPtrField<v1::LayerStats>& stats) {
  Json array = Json::array();
  for (const v1::LayerStats& layer : stats) {
    Json object = Json::object();
    for (const StatsField& field : kStatsFields) {
      if (field.has != nullptr && !(layer.*field.has)()) continue;
      const double value = (layer.*field.get)();
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

absl::Status StatsFromJson(absl::string_view json,
                           google::protobuf::RepeatedPtrField<v1::LayerStats>* stats,
                           absl::string_view what) {
  stats->Clear();
  if (json == "[]") return absl::OkStatus();  // every unfinished run
  const Json array = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (!array.is_array()) return Corrupt(what, "not a JSON array");
  for (const Json& object : array) {
    if (!object.is_object()) return Corrupt(what, "an element is not an object");
    v1::LayerStats& layer = *stats->Add();
    for (const StatsField& field : kStatsFields) {
      auto value = object.find(field.name);
      auto cls = object.find(field.class_name);
      if (field.has != nullptr && value == object.end() && cls == object.end()) continue;
      if (value != object.end() && value->is_number() && cls == object.end()) {
        (layer.*field.set)(value->get<double>());
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
      (layer.*field.set)(*non_finite);
    }
  }
  return absl::OkStatus();
}

}  // namespace ablate::store
