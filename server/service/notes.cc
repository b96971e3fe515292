#include "server/service/notes.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/jobs/text.h"

namespace ablate::service {
namespace {

// Code points in valid UTF-8: every byte that does not continue a sequence starts one.
int CountChars(const std::string& text) {
  return static_cast<int>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xc0) != 0x80; }));
}

std::string Quoted(const std::string& text) {
  // Long or hostile text is cut and escaped so that the error stays one readable line.
  std::string shown = jobs::EscapeForLog(text.substr(0, 40));
  return absl::StrCat("\"", shown, text.size() > 40 ? "…" : "", "\"");
}

}  // namespace

std::string TagProblem(const std::string& tag) {
  const auto allowed = [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' || c == '_' || c == '-';
  };
  if (tag.empty() || static_cast<int>(tag.size()) > kMaxTagChars ||
      !std::all_of(tag.begin(), tag.end(), allowed) || !absl::ascii_isalnum(tag[0])) {
    return absl::StrCat("tag ", Quoted(tag), " is not a tag: a tag is 1 to ", kMaxTagChars,
                        " characters of a-z 0-9 . _ -, starting with a letter or digit (e.g. "
                        "\"week-3\")");
  }
  return "";
}

absl::StatusOr<JobNotes> ApplyNotesRequest(const v1::Job& current,
                                           const v1::UpdateJobNotesRequest& request) {
  JobNotes out{current.note(), {current.tags().begin(), current.tags().end()}};
  if (request.has_note()) {
    std::string note = request.note();
    // Newlines and tabs are part of a note's text; every other control character is refused
    // as in a job's name. Replacing them keeps byte positions for the error.
    std::string checked = note;
    std::replace_if(checked.begin(), checked.end(), [](char c) { return c == '\n' || c == '\t'; },
                    ' ');
    if (std::string problem = jobs::NameTextProblem(checked); !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "The note ", problem, "; a note is text with newlines and tabs but no other control "
          "characters."));
    }
    if (const int chars = CountChars(note); chars > kMaxNoteChars) {
      return absl::InvalidArgumentError(absl::StrCat("The note is ", chars,
                                                     " characters long; a note holds at most ",
                                                     kMaxNoteChars, " characters."));
    }
    // A note of spaces alone is no note.
    if (std::all_of(note.begin(), note.end(), absl::ascii_isspace)) note.clear();
    out.note = std::move(note);
  }
  std::set<std::string> tags(out.tags.begin(), out.tags.end());
  for (const std::string& tag : request.remove_tags()) {
    if (std::string problem = TagProblem(tag); !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(problem, "."));
    }
    tags.erase(tag);
  }
  for (const std::string& tag : request.add_tags()) {
    if (std::string problem = TagProblem(tag); !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(problem, "."));
    }
    tags.insert(tag);
  }
  if (static_cast<int>(tags.size()) > kMaxTags) {
    return absl::InvalidArgumentError(
        absl::StrCat("A job holds at most ", kMaxTags, " tags; job ", current.id(),
                     " would have ", tags.size(), ". Remove one first."));
  }
  out.tags.assign(tags.begin(), tags.end());
  return out;
}

}  // namespace ablate::service
