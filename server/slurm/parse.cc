#include "server/slurm/parse.h"

#include <cctype>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ablate::slurm {
namespace {

// Debian's Abseil has its own string_view type, not an alias of std::string_view.
absl::string_view A(std::string_view text) { return absl::string_view(text.data(), text.size()); }

// Text quoted in an error, cut so that a flood of output does not become a flood of log.
std::string Quote(absl::string_view text) {
  constexpr size_t kMax = 120;
  if (text.size() <= kMax) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", text.substr(0, kMax), "...'");
}

bool ParseId(absl::string_view text, JobId& id) {
  return absl::SimpleAtoi(text, &id) && id > 0 &&
         text.find_first_not_of("0123456789") == absl::string_view::npos;
}

// A field name as Slurm writes them: a letter, then letters, digits and "_:/" (e.g.
// "AllocNode:Sid", "CPUs/Task", "ReqB:S:C:T").
bool LooksLikeKey(absl::string_view word, size_t& eq) {
  eq = word.find('=');
  if (eq == absl::string_view::npos || eq == 0 || !absl::ascii_isalpha(word[0])) return false;
  for (size_t i = 1; i < eq; ++i) {
    char c = word[i];
    if (!absl::ascii_isalnum(c) && c != '_' && c != ':' && c != '/') return false;
  }
  return true;
}

// "N:S" (exit status, signal) as in ExitCode=3:0.
bool ParseExitCode(absl::string_view text, int& exit_code, int& signal) {
  std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(text, ':');
  return absl::SimpleAtoi(parts.first, &exit_code) && absl::SimpleAtoi(parts.second, &signal) &&
         exit_code >= 0 && exit_code <= 255 && signal >= 0 && signal < 128;
}

absl::StatusOr<JobOutcome> OutcomeFromRecord(absl::string_view line, JobId id,
                                             absl::string_view source) {
  auto fields = ParseRecord(std::string_view(line.data(), line.size()));
  auto field = [&](const char* key) -> std::string {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
  };
  JobOutcome outcome;
  outcome.id = id;
  outcome.source = std::string(source);
  outcome.status.text = field("JobState");
  outcome.status.state = ParseJobState(outcome.status.text);
  if (outcome.status.text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, "'s record of job ", id, " has no JobState: ", Quote(line)));
  }
  if (!ParseExitCode(field("ExitCode"), outcome.exit_code, outcome.signal)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, "'s record of job ", id, " has no ExitCode=N:S: ", Quote(line)));
  }
  outcome.reason = field("Reason");
  if (outcome.reason == "None" || outcome.reason == "(null)") outcome.reason.clear();
  outcome.node_list = field("NodeList");
  if (outcome.node_list == "(null)" || outcome.node_list == "None assigned") {
    outcome.node_list.clear();
  }
  return outcome;
}

}  // namespace

absl::StatusOr<JobId> ParseSbatchParsable(std::string_view out) {
  absl::string_view text = absl::StripAsciiWhitespace(A(out));
  absl::string_view id_text = text.substr(0, text.find(';'));
  JobId id = 0;
  if (!ParseId(id_text, id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sbatch --parsable printed ", Quote(text), ", not a job id"));
  }
  return id;
}

absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> ParseSqueue(std::string_view out) {
  absl::flat_hash_map<JobId, JobStatus> jobs;
  for (absl::string_view line : absl::StrSplit(A(out), '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    std::vector<absl::string_view> parts = absl::StrSplit(line, '|');
    JobId id = 0;
    if (parts.size() != 2 || !ParseId(parts[0], id) || parts[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("squeue printed a line that is not 'ID|STATE': ", Quote(line)));
    }
    jobs[id] = JobStatus{ParseJobState(std::string_view(parts[1].data(), parts[1].size())),
                         std::string(parts[1])};
  }
  return jobs;
}

absl::flat_hash_map<std::string, std::string> ParseRecord(std::string_view line) {
  absl::flat_hash_map<std::string, std::string> fields;
  std::string* last = nullptr;
  for (absl::string_view word : absl::StrSplit(A(line), ' ', absl::SkipEmpty())) {
    word = absl::StripAsciiWhitespace(word);
    if (word.empty()) continue;
    size_t eq;
    if (LooksLikeKey(word, eq)) {
      auto [it, inserted] =
          fields.try_emplace(std::string(word.substr(0, eq)), std::string(word.substr(eq + 1)));
      last = inserted ? &it->second : nullptr;  // a repeated key's words go nowhere
    } else if (last != nullptr) {
      absl::StrAppend(last, " ", word);
    }
  }
  return fields;
}

absl::StatusOr<JobOutcome> ParseScontrolJob(std::string_view out, JobId id) {
  const std::string prefix = absl::StrCat("JobId=", id, " ");
  for (absl::string_view line : absl::StrSplit(A(out), '\n', absl::SkipWhitespace())) {
    if (absl::StartsWith(line, prefix)) return OutcomeFromRecord(line, id, "scontrol");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("scontrol show job printed no record of job ", id, ": ", Quote(A(out))));
}

absl::StatusOr<JobOutcome> ParseJobcompLine(std::string_view line, JobId id) {
  if (!absl::StartsWith(A(line), absl::StrCat("JobId=", id, " "))) {
    return absl::InvalidArgumentError(
        absl::StrCat("the jobcomp line is not about job ", id, ": ", Quote(A(line))));
  }
  return OutcomeFromRecord(A(line), id, "jobcomp");
}

std::optional<std::string_view> FindJobcompLine(std::string_view text, JobId id) {
  const std::string prefix = absl::StrCat("JobId=", id, " ");
  size_t end = text.size();
  while (end > 0) {
    size_t start = text.rfind('\n', end - 1);
    start = start == std::string_view::npos ? 0 : start + 1;
    std::string_view line = text.substr(start, end - start);
    if (absl::StartsWith(A(line), prefix)) return line;
    if (start == 0) break;
    end = start - 1;
  }
  return std::nullopt;
}

bool SaysInvalidJobId(std::string_view err) {
  return absl::StrContains(A(err), "Invalid job id specified");
}

}  // namespace ablate::slurm
