// Classes, users and tokens (schema version 2), the class of a job, and deleting a job.
#include <sqlite3.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/migrations.h"
#include "server/store/sqlite_conn.h"
#include "server/store/store.h"
#include "tests/server/store/test_util.h"

namespace ablate::store {
namespace {

using ::ablate::store::testing::ResolvedSpec;
using ::ablate::store::testing::T;
using ::ablate::store::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kHashA(64, 'a');
const std::string kHashB(64, 'b');
const std::string kHashC(64, 'c');

class UsersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(":memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }

  int64_t MustCreateClass(const std::string& name) {
    auto id = store_->CreateClass(name, T(1000));
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : 0;
  }

  User MustCreateUser(const std::string& class_name, const std::string& name, Role role) {
    auto user = store_->CreateUser(class_name, name, role, T(2000));
    EXPECT_TRUE(user.ok()) << user.status();
    return user.ok() ? *user : User();
  }

  // A one-run job that has ended.
  v1::Job FinishedJob(const std::string& owner, std::optional<int64_t> class_id) {
    auto job = wire::CreateJob(*store_, ResolvedSpec("j", {"xavier"}), owner, T(3000), class_id);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return v1::Job();
    const int64_t run_id = job->runs(0).id();
    v1::Run summary;
    summary.set_id(run_id);
    summary.set_state(v1::RUN_STATE_COMPLETED);
    summary.set_outcome("completed");
    std::vector<Event> events = {
        JobStartedEvent{job->id(), T(3001)},
        RunStartedEvent{run_id, T(3001)},
        testing::Step(run_id, 0, 1.0f),
        testing::Eval(run_id, 0, 1.0f, 0.5f),
        RunFinishedEvent{wire::RunSummaryFromProto(summary)},
        JobFinishedEvent{job->id(), JobState::kSucceeded, "", T(3002)},
    };
    auto cursors = store_->Append(events);
    EXPECT_TRUE(cursors.ok()) << cursors.status();
    EXPECT_TRUE(store_->PutArtifact(job->id(), Artifact{"a.txt", "text/plain", "hi", ""}).ok());
    return *job;
  }

  std::unique_ptr<Store> store_;
};

TEST_F(UsersTest, NoUsersMeansNoAuthentication) {
  EXPECT_FALSE(*store_->HasUsers());
  MustCreateClass("cs101");
  EXPECT_FALSE(*store_->HasUsers());  // a class alone does not switch it on
  MustCreateUser("cs101", "carol", Role::kInstructor);
  EXPECT_TRUE(*store_->HasUsers());
}

TEST_F(UsersTest, CreatesClassesAndUsersWithUniqueNames) {
  const int64_t cs101 = MustCreateClass("cs101");
  auto again = store_->CreateClass("cs101", T(1));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("cs101"));

  const User carol = MustCreateUser("cs101", "carol", Role::kInstructor);
  EXPECT_EQ(carol.name, "carol");
  EXPECT_EQ(carol.class_id, cs101);
  EXPECT_EQ(carol.class_name, "cs101");
  EXPECT_EQ(carol.role, Role::kInstructor);

  MustCreateClass("cs102");
  // Names are unique server-wide, not per class: a job's owner is a user's name.
  auto dup = store_->CreateUser("cs102", "carol", Role::kStudent, T(1));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  auto no_class = store_->CreateUser("cs999", "dave", Role::kStudent, T(1));
  EXPECT_EQ(no_class.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_class.status().message(), HasSubstr("cs999"));
}

TEST_F(UsersTest, TokensAreFoundByHashUntilRevoked) {
  MustCreateClass("cs101");
  MustCreateUser("cs101", "ada", Role::kStudent);
  ASSERT_TRUE(store_->AddToken("ada", kHashA, "abl_AAAA", T(5)).ok());
  ASSERT_TRUE(store_->AddToken("ada", kHashB, "abl_BBBB", T(5)).ok());
  EXPECT_EQ(store_->AddToken("nobody", kHashC, "abl_CCCC", T(5)).code(),
            absl::StatusCode::kNotFound);
  // The same hash twice would make a lookup ambiguous.
  EXPECT_EQ(store_->AddToken("ada", kHashA, "abl_AAAA", T(5)).code(),
            absl::StatusCode::kAlreadyExists);

  auto user = store_->UserByToken(kHashA);
  ASSERT_TRUE(user.ok()) << user.status();
  ASSERT_TRUE(user->has_value());
  EXPECT_EQ((*user)->name, "ada");
  EXPECT_EQ((*user)->class_name, "cs101");
  EXPECT_EQ((*user)->role, Role::kStudent);
  EXPECT_FALSE(store_->UserByToken(kHashC)->has_value());

  // Revoking by prefix revokes only that token; the next lookup already fails.
  EXPECT_EQ(*store_->RevokeTokens("ada", "abl_AA", T(6)), 1);
  EXPECT_FALSE(store_->UserByToken(kHashA)->has_value());
  EXPECT_TRUE(store_->UserByToken(kHashB)->has_value());
  EXPECT_EQ(*store_->RevokeTokens("ada", "abl_AA", T(6)), 0);  // already revoked
  // An empty prefix revokes all of them.
  EXPECT_EQ(*store_->RevokeTokens("ada", "", T(7)), 1);
  EXPECT_FALSE(store_->UserByToken(kHashB)->has_value());
  EXPECT_EQ(store_->RevokeTokens("bob", "", T(7)).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(UsersTest, ListUsersByClassWithLiveTokenCounts) {
  MustCreateClass("cs101");
  MustCreateClass("cs102");
  MustCreateUser("cs101", "carol", Role::kInstructor);
  MustCreateUser("cs101", "ada", Role::kStudent);
  MustCreateUser("cs102", "bob", Role::kStudent);
  ASSERT_TRUE(store_->AddToken("ada", kHashA, "abl_AAAA", T(5)).ok());
  ASSERT_TRUE(store_->AddToken("ada", kHashB, "abl_BBBB", T(5)).ok());
  ASSERT_TRUE(store_->RevokeTokens("ada", "abl_B", T(6)).ok());

  auto cs101 = store_->ListUsers("cs101");
  ASSERT_TRUE(cs101.ok()) << cs101.status();
  std::vector<std::string> names;
  for (const User& u : *cs101) names.push_back(u.name);
  EXPECT_THAT(names, ElementsAre("ada", "carol"));
  EXPECT_EQ((*cs101)[0].live_tokens, 1);
  EXPECT_EQ((*cs101)[1].live_tokens, 0);
  EXPECT_EQ(store_->ListUsers("").value().size(), 3u);
  EXPECT_EQ(store_->ListUsers("cs999").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(UsersTest, JobsRecordTheirClassAndListJobsFiltersByIt) {
  const int64_t cs101 = MustCreateClass("cs101");
  const int64_t cs102 = MustCreateClass("cs102");
  const v1::Job a = *wire::CreateJob(*store_, ResolvedSpec(), "ada", T(10), cs101);
  const v1::Job b = *wire::CreateJob(*store_, ResolvedSpec(), "bob", T(11), cs102);
  const v1::Job none = *wire::CreateJob(*store_, ResolvedSpec(), "solo", T(12));

  EXPECT_EQ(store_->GetJobAccess(a.id())->class_id, cs101);
  EXPECT_EQ(store_->GetJobAccess(a.id())->owner, "ada");
  EXPECT_EQ(store_->GetJobAccess(a.id())->state, JobState::kQueued);
  EXPECT_FALSE(store_->GetJobAccess(none.id())->class_id.has_value());
  EXPECT_EQ(store_->GetJobAccess(9999).status().code(), absl::StatusCode::kNotFound);

  auto ids = [](const JobPage& page) {
    std::vector<int64_t> out;
    for (const JobRecord& j : page.jobs) out.push_back(j.id);
    return out;
  };
  EXPECT_THAT(ids(*store_->ListJobs(JobQuery(), cs101)), ElementsAre(a.id()));
  EXPECT_THAT(ids(*store_->ListJobs(JobQuery(), cs102)), ElementsAre(b.id()));
  EXPECT_THAT(ids(*store_->ListJobs(JobQuery())), ElementsAre(none.id(), b.id(), a.id()));
  JobQuery by_owner;
  by_owner.owner = "bob";
  EXPECT_TRUE(store_->ListJobs(by_owner, cs101)->jobs.empty());

  // A job cannot name a class that does not exist.
  EXPECT_FALSE(wire::CreateJob(*store_, ResolvedSpec(), "x", T(13), 4242).ok());
}

TEST_F(UsersTest, DeleteJobRemovesEverythingOfAnEndedJobOnly) {
  const v1::Job done = FinishedJob("ada", std::nullopt);
  const v1::Job keep = FinishedJob("ada", std::nullopt);
  const v1::Job queued = *wire::CreateJob(*store_, ResolvedSpec(), "ada", T(10));

  absl::Status refused = store_->DeleteJob(queued.id());
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("cancel it first"));

  ASSERT_TRUE(store_->DeleteJob(done.id()).ok());
  EXPECT_EQ(wire::GetJob(*store_, done.id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetTrajectory(done.runs(0).id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(wire::ReadUpdate(*store_, done.id(), 0, 10).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetArtifact(done.id(), "a.txt").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteJob(done.id()).code(), absl::StatusCode::kNotFound);
  // The other job is untouched.
  auto trajectory = store_->GetTrajectory(keep.runs(0).id());
  ASSERT_TRUE(trajectory.ok()) << trajectory.status();
  EXPECT_EQ(trajectory->steps.size(), 1u);
  EXPECT_TRUE(store_->GetArtifact(keep.id(), "a.txt").ok());
}

// A file written by a build that knew only schema version 1 gains the new tables, and its jobs
// keep everything, with no class.
TEST(UsersMigrationTest, Version1FileMigratesToVersion2) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  {
    auto conn = Connection::Open(path, 1000);
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(Migrate(**conn, Migrations().first(1)).ok());
    ASSERT_EQ((*conn)->QueryInt("PRAGMA user_version").value(), 1);
    ASSERT_TRUE((*conn)
                    ->Exec("INSERT INTO jobs (name, owner, state, spec, created_at) "
                           "VALUES ('old', 'ada', 'succeeded', '{}', 1000)")
                    .ok());
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto access = (*store)->GetJobAccess(1);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->owner, "ada");
  EXPECT_FALSE(access->class_id.has_value());
  EXPECT_FALSE(*(*store)->HasUsers());
  ASSERT_TRUE((*store)->CreateClass("cs101", T(1)).ok());
  ASSERT_TRUE((*store)->CreateUser("cs101", "ada", Role::kStudent, T(1)).ok());
  {
    auto conn = Connection::Open(path, 1000);
    ASSERT_TRUE(conn.ok());
    EXPECT_EQ((*conn)->QueryInt("PRAGMA user_version").value(), Store::SchemaVersion());
  }
}

}  // namespace
}  // namespace ablate::store
