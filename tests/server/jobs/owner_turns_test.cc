// The fair queue of runs and of job ends: each owner's items in order, owners in turn.
#include "server/jobs/owner_turns.h"

#include <optional>
#include <random>
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

// CountBefore tells what taking would: checked against taking itself on random queues, with
// turns already under way, for every item.
TEST(OwnerTurnsTest, CountBeforeIsHowManyItemsTakeHandsOutFirst) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    OwnerTurns<std::string> turns;
    const int owners = 1 + static_cast<int>(rng() % 6);
    const int items = static_cast<int>(rng() % 30);
    for (int i = 0; i < items; ++i) {
      turns.Push(absl::StrCat("owner", rng() % owners), absl::StrCat("item", i));
    }
    for (int taken = static_cast<int>(rng() % 4); taken > 0 && !turns.empty(); --taken) {
      turns.Take();
    }
    std::vector<std::string> order;
    OwnerTurns<std::string> copy = turns;
    while (!copy.empty()) order.push_back(copy.Take());
    for (size_t k = 0; k < order.size(); ++k) {
      EXPECT_EQ(turns.CountBefore([&](const std::string& item) { return item == order[k]; }),
                std::optional<int>(static_cast<int>(k)))
          << "trial " << trial << ", " << order[k];
    }
    // Of several items, the first to leave counts.
    if (order.size() >= 3) {
      EXPECT_EQ(turns.CountBefore([&](const std::string& item) {
        return item == order[order.size() - 1] || item == order[1];
      }), std::optional<int>(1));
    }
    EXPECT_EQ(turns.CountBefore([](const std::string& item) { return item == "none"; }),
              std::nullopt);
  }
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
