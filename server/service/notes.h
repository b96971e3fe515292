// The policy for a job's note and tags (UpdateJobNotes): what may be written, and the limits.
#ifndef ABLATE_SERVER_SERVICE_NOTES_H_
#define ABLATE_SERVER_SERVICE_NOTES_H_

#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"

namespace ablate::service {

// A note is a few sentences about a job, not a report: the job list shows it whole.
inline constexpr int kMaxNoteChars = 2000;
// Tags sort and filter a class's jobs ("week-3", "baseline", "lr-sweep"); a handful is enough,
// and every tag appears on every job row.
inline constexpr int kMaxTags = 8;
inline constexpr int kMaxTagChars = 32;

// The note and tags job `current` has after `request`: the note replaced when the request has
// one, then remove_tags removed and add_tags added; tags sorted and unique. InvalidArgument, in
// one sentence naming the field, the value and the rule, for a note over kMaxNoteChars
// characters or one that is not UTF-8 or holds control characters other than newline and tab,
// a tag that is not 1–kMaxTagChars characters of a-z 0-9 . _ - (starting with a letter or
// digit), and a result with more than kMaxTags tags.
struct JobNotes {
  std::string note;
  std::vector<std::string> tags;
};
absl::StatusOr<JobNotes> ApplyNotesRequest(const v1::Job& current,
                                           const v1::UpdateJobNotesRequest& request);

// What is wrong with `tag` (a sentence fragment such as "tag \"Week 3\" may hold only a-z 0-9
// . _ - ..."), or "" when it is a valid tag. Also checks ListJobsRequest.tag.
std::string TagProblem(const std::string& tag);

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_NOTES_H_
