// A job's note and tags in the store: written whole, read with every job, filtered by tag,
// deleted with their job.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/store.h"
#include "tests/server/store/test_util.h"

namespace ablate::store {
namespace {

using ::ablate::store::testing::ResolvedSpec;
using ::ablate::store::testing::T;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<int64_t> Ids(const JobPage& page) {
  std::vector<int64_t> ids;
  for (const JobRecord& job : page.jobs) ids.push_back(job.id);
  return ids;
}

TEST(JobNotes, WrittenWholeReadWithTheJobFilteredByTagAndDeletedWithIt) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok()) << store.status();
  auto a = (*store)->CreateJob(*wire::NewJobFromSpec(ResolvedSpec("a")), "ada", T(1000));
  auto b = (*store)->CreateJob(*wire::NewJobFromSpec(ResolvedSpec("b")), "bob", T(2000));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->note, "");
  EXPECT_THAT(a->tags, IsEmpty());

  ASSERT_TRUE((*store)->SetJobNotes(a->id, "line 1\nline 2", {"week-3", "baseline"}).ok());
  ASSERT_TRUE((*store)->SetJobNotes(b->id, "", {"week-3"}).ok());
  auto got = (*store)->GetJob(a->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->note, "line 1\nline 2");
  EXPECT_THAT(got->tags, ElementsAre("baseline", "week-3"));  // sorted
  // The API sees the same (the one mapping, server/service/wire.h).
  EXPECT_THAT(wire::GetJob(**store, a->id)->tags(), ElementsAre("baseline", "week-3"));

  JobQuery query;
  query.tag = "week-3";
  auto page = (*store)->ListJobs(query);
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(Ids(*page), ElementsAre(b->id, a->id));
  EXPECT_THAT(page->jobs[1].tags, ElementsAre("baseline", "week-3"));
  query.tag = "baseline";
  EXPECT_THAT(Ids(*(*store)->ListJobs(query)), ElementsAre(a->id));
  query.tag = "base";  // exact match only
  EXPECT_THAT(Ids(*(*store)->ListJobs(query)), IsEmpty());

  // Replacing: the note removed, a tag dropped.
  ASSERT_TRUE((*store)->SetJobNotes(a->id, "", {"baseline"}).ok());
  got = (*store)->GetJob(a->id);
  EXPECT_EQ(got->note, "");
  EXPECT_THAT(got->tags, ElementsAre("baseline"));

  EXPECT_EQ((*store)->SetJobNotes(999, "x", {}).code(), absl::StatusCode::kNotFound);

  // Deleted with the job (an ended job: cancel it first).
  JobFinishedEvent end{.job_id = a->id, .state = JobState::kCancelled, .error = "", .at = T(3000)};
  std::vector<Event> events = {end};
  ASSERT_TRUE((*store)->Append(events).ok());
  ASSERT_TRUE((*store)->DeleteJob(a->id).ok());
  query.tag = "baseline";
  EXPECT_THAT(Ids(*(*store)->ListJobs(query)), IsEmpty());
  // A new job that reuses nothing of the deleted one's notes.
  auto c = (*store)->CreateJob(*wire::NewJobFromSpec(ResolvedSpec("c")), "ada", T(4000));
  ASSERT_TRUE(c.ok());
  EXPECT_THAT(c->tags, IsEmpty());
}

}  // namespace
}  // namespace ablate::store
