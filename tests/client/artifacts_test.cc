#include "client/artifacts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "tests/support/temp_dir.h"

namespace ablate::client {
namespace {

using ::testing::HasSubstr;
using test_support::ReadFile;
using test_support::TempDir;


size_t Entries(const std::filesystem::path& dir) {
  return std::distance(std::filesystem::directory_iterator(dir),
                       std::filesystem::directory_iterator());
}

v1::ArtifactChunk First(const std::string& name, const std::string& content) {
  v1::ArtifactChunk chunk;
  chunk.set_name(name);
  chunk.set_size(static_cast<int64_t>(content.size()));
  chunk.set_sha256(Sha256Hex(content));
  return chunk;
}

TEST(Sha256Hex, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// The client's check hashes a download chunk by chunk; the server hashed it whole.
TEST(Sha256Hex, PiecesGiveTheDigestOfTheWhole) {
  Sha256 pieces;
  pieces.Update("a");
  pieces.Update("");
  pieces.Update("bc");
  EXPECT_EQ(pieces.HexDigest(), Sha256Hex("abc"));
  Sha256 none;
  EXPECT_EQ(none.HexDigest(), Sha256Hex(""));
}

TEST(ArtifactCheck, AcceptsTheAnnouncedBytesInAnyChunking) {
  ArtifactCheck check;
  ASSERT_TRUE(check.Begin("README.md", First("README.md", "hello world")).ok());
  check.Add("hel");
  check.Add("");
  check.Add("lo world");
  EXPECT_TRUE(check.Finish().ok());
}

TEST(ArtifactCheck, AcceptsUpperCaseHex) {
  v1::ArtifactChunk first = First("a", "abc");
  first.set_sha256("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  ArtifactCheck check;
  ASSERT_TRUE(check.Begin("a", first).ok());
  check.Add("abc");
  EXPECT_TRUE(check.Finish().ok());
}

TEST(ArtifactCheck, WrongSizeIsDataLoss) {
  ArtifactCheck check;
  ASSERT_TRUE(check.Begin("losses.json", First("losses.json", "12345")).ok());
  check.Add("1234");
  absl::Status status = check.Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(), "losses.json arrived with 4 bytes, but the server announced 5");
}

TEST(ArtifactCheck, WrongContentIsDataLoss) {
  ArtifactCheck check;
  ASSERT_TRUE(check.Begin("a.png", First("a.png", "abc")).ok());
  check.Add("abd");
  absl::Status status = check.Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("a.png arrived corrupted: its SHA-256 is "));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("the server announced ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb4"
                        "10ff61f20015ad"));
}

TEST(ArtifactCheck, MissingChecksumOrWrongNameIsAServerBug) {
  v1::ArtifactChunk no_sha = First("a", "abc");
  no_sha.clear_sha256();
  ArtifactCheck check;
  EXPECT_EQ(check.Begin("a", no_sha).message(),
            "the server sent a without its SHA-256 (a server bug: please report it)");
  ArtifactCheck other;
  EXPECT_EQ(other.Begin("job.json", First("README.md", "x")).message(),
            "asked for job.json, the server sent README.md (a server bug: please report it)");
}

TEST(AtomicFile, CommitRenamesIntoPlace) {
  TempDir dir;
  const std::filesystem::path path = dir.path() / "job.json";
  {
    std::ofstream old(path);
    old << "old";
  }
  absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Create(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Write("new ").ok());
  ASSERT_TRUE((*file)->Write("content").ok());
  EXPECT_EQ(ReadFile(path), "old") << "the target is untouched until Commit";
  EXPECT_EQ(Entries(dir.path()), 2u);
  ASSERT_TRUE((*file)->Commit().ok());
  EXPECT_EQ(ReadFile(path), "new content");
  EXPECT_EQ(Entries(dir.path()), 1u) << "no temporary left behind";
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::others_read);
}

TEST(AtomicFile, DroppedWithoutCommitLeavesNothing) {
  TempDir dir;
  {
    absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Create(dir.path() / "x.png");
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Write("partial").ok());
  }
  EXPECT_EQ(Entries(dir.path()), 0u);
}

TEST(AtomicFile, UnwritableDirectoryIsAnError) {
  absl::StatusOr<std::unique_ptr<AtomicFile>> file =
      AtomicFile::Create("/nonexistent-dir/job.json");
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(std::string(file.status().message()),
              HasSubstr("cannot write /nonexistent-dir/job.json: "));
}

TEST(Deliverables, JobJsonIsTheRequiredOne) {
  EXPECT_EQ(kDeliverables.front(), kRequiredDeliverable);
  EXPECT_EQ(kDeliverables.size(), 8u);
}

}  // namespace
}  // namespace ablate::client
