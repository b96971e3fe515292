// The fair queue of runs and of job ends: each owner's items in order, owners in turn.
#include "server/jobs/owner_turns.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ablate::jobs {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> TakeAll(OwnerTurns<std::string>& turns) {
  std::vector<std::string> taken;
  while (!turns.empty()) taken.push_back(turns.Take());
  return taken;
}

TEST(OwnerTurnsTest, OwnersTakeTurnsAndEachOwnersItemsKeepTheirOrder) {
  OwnerTurns<std::string> turns;
  for (const char* item : {"a1", "a2", "a3"}) turns.Push("ada", item);
  turns.Push("grace", "g1");
  turns.Push("barbara", "b1");
  turns.Push("grace", "g2");
  EXPECT_EQ(turns.size(), 6);
  // Name order from the start, wrapping around: ada, barbara, grace, ada, grace, ada.
  EXPECT_THAT(TakeAll(turns), ElementsAre("a1", "b1", "g1", "a2", "g2", "a3"));
  EXPECT_EQ(turns.size(), 0);
}

TEST(OwnerTurnsTest, ANewOwnerWaitsForNoMoreThanOneItemOfEachOther) {
  OwnerTurns<std::string> turns;
  for (int i = 0; i < 50; ++i) turns.Push("ada", absl::StrCat("a", i));
  EXPECT_EQ(turns.Take(), "a0");
  turns.Push("grace", "g0");  // comes after ada's fifty
  EXPECT_EQ(turns.Take(), "g0");
  EXPECT_EQ(turns.Take(), "a1");
}

TEST(OwnerTurnsTest, AnItemThatDoesNotUseItsTurnLeavesItWithItsOwner) {
  OwnerTurns<std::string> turns;
  turns.Push("ada", "a-stopped");
  turns.Push("ada", "a2");
  turns.Push("grace", "g1");
  auto started = [](const std::string& item) { return item != "a-stopped"; };
  EXPECT_EQ(turns.Take(started), "a-stopped");
  EXPECT_EQ(turns.Take(started), "a2") << "ada's turn was not used";
  EXPECT_EQ(turns.Take(started), "g1");
}

TEST(OwnerTurnsTest, RemoveIfTakesTheMatchingItemsOut) {
  OwnerTurns<std::string> turns;
  turns.Push("ada", "a1-stopped");
  turns.Push("ada", "a2");
  turns.Push("grace", "g1-stopped");
  const std::vector<std::string> removed = turns.RemoveIf(
      [](const std::string& item) { return item.ends_with("-stopped"); });
  EXPECT_THAT(removed, ElementsAre("a1-stopped", "g1-stopped"));
  EXPECT_EQ(turns.size(), 1);
  EXPECT_THAT(TakeAll(turns), ElementsAre("a2"));
}

}  // namespace
}  // namespace ablate::jobs
