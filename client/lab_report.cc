#include "client/lab_report.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace ablate::client {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Value* Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

std::string Text(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v != nullptr && v->has_string_value() ? v->string_value() : std::string();
}

double Number(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v != nullptr && v->has_number_value() ? v->number_value() : 0;
}

std::optional<SpreadValues> SpreadField(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  if (v == nullptr || !v->has_struct_value()) return std::nullopt;
  const Struct& spread = v->struct_value();
  return SpreadValues{Number(spread, "min"), Number(spread, "median"), Number(spread, "max")};
}

// "0.0345 [0.0012–0.69]", or "—".
std::string Cell(const std::optional<SpreadValues>& v, bool percent) {
  if (!v) return "—";
  const auto f = [percent](double x) {
    return percent ? absl::StrFormat("%.1f%%", 100 * x) : absl::StrFormat("%.4g", x);
  };
  return absl::StrCat(f(v->median), " [", f(v->min), "–", f(v->max), "]");
}

}  // namespace

absl::StatusOr<LabFindings> ParseLabFindings(absl::string_view manifest_json) {
  Struct root;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (auto status = google::protobuf::util::JsonStringToMessage(
          std::string(manifest_json), &root, options);
      !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the manifest is not valid JSON: ", std::string(status.message())));
  }
  const Value* summary = Field(root, "results_summary");
  if (summary == nullptr || !summary->has_struct_value()) {
    return absl::InvalidArgumentError("the manifest has no results_summary");
  }
  LabFindings findings;
  if (const Value* job = Field(root, "job"); job != nullptr && job->has_struct_value()) {
    findings.job_id = static_cast<int64_t>(Number(job->struct_value(), "id"));
  }
  const Struct& s = summary->struct_value();
  if (const Value* list = Field(s, "depth_outcomes"); list != nullptr && list->has_list_value()) {
    for (const Value& item : list->list_value().values()) {
      if (!item.has_struct_value()) continue;
      const Struct& o = item.struct_value();
      DepthOutcome outcome;
      outcome.init = Text(o, "init");
      outcome.depth = static_cast<int>(Number(o, "depth"));
      outcome.regime = Text(o, "regime");
      outcome.expected = Text(o, "expected");
      outcome.observed = Text(o, "observed");
      const Value* held = Field(o, "held");
      if (held != nullptr && held->has_bool_value()) outcome.held = held->bool_value();
      findings.depth_outcomes.push_back(std::move(outcome));
    }
  }
  if (const Value* list = Field(s, "seeds"); list != nullptr && list->has_list_value()) {
    for (const Value& item : list->list_value().values()) {
      if (!item.has_struct_value()) continue;
      const Struct& o = item.struct_value();
      SeedSpread spread;
      spread.init = Text(o, "init");
      spread.runs = static_cast<int>(Number(o, "runs"));
      spread.final_loss = SpreadField(o, "final_loss");
      spread.val_loss = SpreadField(o, "val_loss");
      spread.val_accuracy = SpreadField(o, "val_accuracy");
      spread.first_nonfinite_step = SpreadField(o, "first_nonfinite_step");
      spread.diverged = static_cast<int>(Number(o, "diverged"));
      spread.generalised = static_cast<int>(Number(o, "generalised"));
      spread.memorised = static_cast<int>(Number(o, "memorised"));
      findings.seeds.push_back(std::move(spread));
    }
  }
  return findings;
}

absl::StatusOr<LabFindings> ReadLabFindings(const std::filesystem::path& manifest) {
  std::ifstream in(manifest, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", manifest.string()));
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<LabFindings> findings = ParseLabFindings(text.str());
  if (!findings.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(manifest.string(), ": ", findings.status().message()));
  }
  return findings;
}

std::string FormatLabFindings(const LabFindings& f) {
  std::string out;
  if (!f.depth_outcomes.empty()) {
    absl::StrAppend(&out, "\ndepth ", f.depth_outcomes.front().depth,
                    ", what each init's variance gain predicts and what happened:\n");
    for (const DepthOutcome& o : f.depth_outcomes) {
      absl::StrAppend(&out, "  ", o.init, ": ", o.regime, ", expected ", o.expected, "; ",
                      o.observed, " — ",
                      !o.held ? "not tested (too few steps)" : *o.held ? "held" : "did NOT hold",
                      "\n");
    }
  }
  if (!f.seeds.empty()) {
    absl::StrAppend(&out, "\nacross weight seeds, median [min–max]:\n");
    for (const SeedSpread& s : f.seeds) {
      absl::StrAppend(&out, "  ", s.init, " (", s.runs, " runs): final train loss ",
                      Cell(s.final_loss, false), ", val loss ", Cell(s.val_loss, false),
                      ", val accuracy ", Cell(s.val_accuracy, true), "; diverged ", s.diverged,
                      s.first_nonfinite_step
                          ? absl::StrCat(" (first non-finite step ",
                                         Cell(s.first_nonfinite_step, false), ")")
                          : std::string(),
                      "; generalised ", s.generalised, ", memorised ", s.memorised, "\n");
    }
  }
  return out;
}

}  // namespace ablate::client
