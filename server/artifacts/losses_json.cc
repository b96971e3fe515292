#include "server/artifacts/losses_json.h"

#include <string_view>
#include <vector>

#include "server/artifacts/json_util.h"

namespace ablate::artifacts {
namespace {

// losses.json is written straight into its string, in PrettyJson's layout, rather than built as
// a Json document and printed: for the largest job (16 runs × 100,000 steps, 20,000 evaluations
// each) the document took about 100 MB and the string, doubling up to its 47 MB, 81 MB at once.
// Each value is still the one the document held, printed by nlohmann, so the bytes are
// PrettyJson's.
class PrettyWriter {
 public:
  explicit PrettyWriter(std::string& out) : out_(out) {}

  // An array or object whose elements go one a line; Close gives "[]" or "{}" when it got none.
  void Open(char bracket) {
    out_ += bracket;
    empty_.push_back(true);
  }
  void Close(char bracket) {
    const bool empty = empty_.back();
    empty_.pop_back();
    if (!empty) {
      out_ += '\n';
      out_.append(2 * empty_.size(), ' ');
    }
    out_ += bracket;
  }

  // Starts the next element of the open array on its own line.
  void Element() {
    out_ += empty_.back() ? "\n" : ",\n";
    empty_.back() = false;
    out_.append(2 * empty_.size(), ' ');
  }
  // Starts the next member of the open object. Its keys here are ASCII names and step numbers,
  // which JSON writes unescaped.
  void Key(std::string_view key) {
    Element();
    out_ += '"';
    out_ += key;
    out_ += "\": ";
  }

  // A number, string, boolean or null, as PrettyJson writes it.
  void Scalar(const Json& value) {
    out_ += value.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  void Member(std::string_view key, const Json& value) {
    Key(key);
    Scalar(value);
  }

 private:
  std::string& out_;
  std::vector<bool> empty_;  // per open array or object: no element written in it yet
};

// About the text's size, a little more for all but extreme losses, so that the string is
// allocated once rather than doubled past it.
size_t EstimatedSize(const JobSummary& summary) {
  // A float32's shortest decimal: at most 9 digits, 14 characters with the point and leading
  // zeros or the exponent ("0.000123456789", "1.23456789e-05") for any value below 1e12.
  constexpr size_t kNumber = 14;
  // An evaluation: its indentation, braces and keys, a step of up to 10 digits, two numbers.
  constexpr size_t kEval = 84 + 10 + 2 * kNumber;
  constexpr size_t kNonfinite = 32;  // `,\n        "99999": "-inf"`
  constexpr size_t kRun = 400;       // a run's keys, brackets and other numbers
  size_t size = 1024 + summary.job->name().size();  // the header
  for (const RunSummary& r : summary.runs) {
    size += kRun + r.label.size() + r.init.size() + r.formula.size() + r.outcome.size() +
            r.losses.size() * (kNumber + 1) + r.nonfinite.size() * kNonfinite +
            r.evals.size() * kEval;
  }
  return size;
}

}  // namespace

std::string RenderLossesJson(const JobSummary& summary) {
  const v1::Job& job = *summary.job;
  std::string out;
  out.reserve(EstimatedSize(summary));
  PrettyWriter writer(out);
  writer.Open('{');
  writer.Member("schema", kLossesSchema);
  writer.Member(
      "format",
      "losses[s] is run's mean training cross-entropy at step s (after s updates), a float32 "
      "written as the shortest decimal that reads back as it; null where it was NaN or infinite, "
      "and nonfinite maps each such step to \"nan\", \"inf\" or \"-inf\". evals are validation "
      "results after `step` updates. Runs are in spec order; label is unique within the file.");
  writer.Member("job_id", job.id());
  writer.Member("job_name", job.name());
  writer.Member("steps_planned", job.spec().training().steps());
  writer.Member("chance_loss", summary.chance);
  writer.Key("runs");
  writer.Open('[');
  for (const RunSummary& r : summary.runs) {
    writer.Element();
    writer.Open('{');
    writer.Member("run_id", r.run_id);
    writer.Member("index", r.index);
    writer.Member("label", r.label);
    writer.Member("init", r.init);
    writer.Member("formula", r.formula);
    writer.Member("weight_seed", r.weight_seed);
    writer.Member("data_seed", r.data_seed);
    writer.Member("outcome", r.outcome);
    writer.Member("steps", r.losses.size());
    // An array of numbers goes on one line, with no spaces.
    writer.Key("losses");
    out += '[';
    for (size_t s = 0; s < r.losses.size(); ++s) {
      if (s > 0) out += ',';
      writer.Scalar(LossJson(r.losses[s]));
    }
    out += ']';
    writer.Member("first_nonfinite_step", OrNull(r.first_nonfinite_step));
    writer.Key("nonfinite");
    writer.Open('{');
    for (const auto& [step, kind] : r.nonfinite) writer.Member(std::to_string(step), kind);
    writer.Close('}');
    writer.Member("flatline_step", OrNull(r.flatline_step));
    writer.Key("evals");
    writer.Open('[');
    for (const v1::EvalResult& e : r.evals) {
      writer.Element();
      writer.Open('{');
      writer.Member("step", e.step());
      writer.Member("loss", LossJson(e.loss()));
      writer.Member("accuracy", LossJson(e.accuracy()));
      writer.Close('}');
    }
    writer.Close(']');
    writer.Close('}');
  }
  writer.Close(']');
  writer.Close('}');
  out += '\n';
  return out;
}

}  // namespace ablate::artifacts
