// The policy for notes and tags (server/service/notes.h): each limit refuses with a sentence
// naming the rule; edits apply in order and leave tags sorted and unique.
#include "server/service/notes.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ablate::service {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Job JobWith(std::vector<std::string> tags, std::string note = "") {
  v1::Job job;
  job.set_id(7);
  job.set_note(note);
  for (auto& t : tags) job.add_tags(t);
  return job;
}

TEST(ApplyNotesRequest, AddsRemovesAndReplacesTheNoteOnlyWhenGiven) {
  v1::UpdateJobNotesRequest request;
  request.add_add_tags("week-3");
  request.add_add_tags("a.b_c-1");
  request.add_add_tags("week-3");
  request.add_remove_tags("old");
  request.add_remove_tags("absent");
  auto notes = ApplyNotesRequest(JobWith({"old", "zeta"}, "kept"), request);
  ASSERT_TRUE(notes.ok()) << notes.status();
  EXPECT_EQ(notes->note, "kept");
  EXPECT_THAT(notes->tags, ElementsAre("a.b_c-1", "week-3", "zeta"));
  request.set_note("  \n\t ");  // only spaces: no note
  EXPECT_EQ(ApplyNotesRequest(JobWith({}, "kept"), request)->note, "");
  request.set_note("two\nlines\twith a tab");
  EXPECT_EQ(ApplyNotesRequest(JobWith({}), request)->note, "two\nlines\twith a tab");
}

TEST(ApplyNotesRequest, RefusesEachBrokenRuleInASentence) {
  auto refusal = [](v1::UpdateJobNotesRequest request, const v1::Job& job = JobWith({})) {
    auto notes = ApplyNotesRequest(job, request);
    EXPECT_EQ(notes.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(notes.status().message());
  };
  for (const char* bad : {"", "Week3", "week 3", "-lead", ".lead", "tag/slash", "é",
                          "abcdefghijklmnopqrstuvwxyz0123456"}) {
    v1::UpdateJobNotesRequest request;
    request.add_add_tags(bad);
    EXPECT_THAT(refusal(request), HasSubstr("is not a tag: a tag is 1 to 32 characters of a-z "
                                            "0-9 . _ -, starting with a letter or digit"))
        << bad;
  }
  v1::UpdateJobNotesRequest ok32;
  ok32.add_add_tags(std::string(32, 'x'));
  EXPECT_TRUE(ApplyNotesRequest(JobWith({}), ok32).ok());

  v1::UpdateJobNotesRequest nine;
  for (int i = 0; i < 9; ++i) nine.add_add_tags("t" + std::to_string(i));
  EXPECT_EQ(refusal(nine), "A job holds at most 8 tags; job 7 would have 9. Remove one first.");
  // Removing first makes room.
  v1::UpdateJobNotesRequest swap;
  swap.add_remove_tags("t0");
  swap.add_add_tags("t8");
  EXPECT_TRUE(ApplyNotesRequest(JobWith({"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"}), swap)
                  .ok());

  v1::UpdateJobNotesRequest long_note;
  std::string text;
  for (int i = 0; i < kMaxNoteChars; ++i) text += "é";  // characters, not bytes, count
  long_note.set_note(text);
  EXPECT_TRUE(ApplyNotesRequest(JobWith({}), long_note).ok());
  long_note.set_note(text + "x");
  EXPECT_EQ(refusal(long_note),
            "The note is 2001 characters long; a note holds at most 2000 characters.");
  v1::UpdateJobNotesRequest control;
  control.set_note("red \x1b[31m");
  EXPECT_THAT(refusal(control), HasSubstr("The note contains the control character U+001B"));
  control.set_note("bad \xff byte");
  EXPECT_THAT(refusal(control), HasSubstr("The note is not valid UTF-8 (byte 5)"));
}

}  // namespace
}  // namespace ablate::service
