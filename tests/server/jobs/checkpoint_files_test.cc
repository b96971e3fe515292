// The checkpoint files: private modes, saves and removals in order, whole files only, and a
// failed save (a full disk) that keeps the older checkpoint.
#include "server/jobs/checkpoint_files.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace ablate::jobs {
namespace {

using test_support::TempDir;

int Mode(const std::filesystem::path& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 0777);
}

TEST(CheckpointFilesTest, SavesLoadsAndRemovesWithPrivateModes) {
  TempDir dir("ablate_ckpt_files");
  const std::filesystem::path ckpt = dir.path() / "checkpoints";
  std::unique_ptr<CheckpointFiles> files = *CheckpointFiles::Open(ckpt);
  EXPECT_EQ(Mode(ckpt), 0700);
  EXPECT_EQ(files->Load(7), "");
  files->Save(7, "first");
  files->Save(8, std::string(1 << 20, 'x'));
  files->Flush();
  EXPECT_EQ(files->Load(7), "first");
  EXPECT_EQ(files->Load(8).size(), 1u << 20);
  EXPECT_EQ(Mode(files->PathOf(7)), 0600);
  files->Save(7, "second");
  files->Remove(8);
  files->Flush();
  EXPECT_EQ(files->Load(7), "second");
  EXPECT_FALSE(std::filesystem::exists(files->PathOf(8)));
  // A removal queued between two saves of a run stays between them.
  files->Save(9, "a");
  files->Remove(9);
  files->Save(9, "b");
  files->Flush();
  EXPECT_EQ(files->Load(9), "b");
  // Only the checkpoint files themselves are there: no temporary file is left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(ckpt)) ++entries;
  EXPECT_EQ(entries, 2);
  EXPECT_EQ(files->FailedSaves(), 0);
}

TEST(CheckpointFilesTest, RemoveAllExceptKeepsOnlyTheLiveRunsFiles) {
  TempDir dir("ablate_ckpt_files");
  std::unique_ptr<CheckpointFiles> files = *CheckpointFiles::Open(dir.path() / "c");
  for (int64_t run : {1, 2, 3}) files->Save(run, "x");
  files->Flush();
  // What a crash in the middle of a write leaves.
  { std::ofstream(dir.path() / "c" / "4.ckpt.tmp") << "half"; }
  { std::ofstream(dir.path() / "c" / "notes.txt") << "not ours"; }
  EXPECT_EQ(files->RemoveAllExcept({2}), 3);
  EXPECT_FALSE(std::filesystem::exists(files->PathOf(1)));
  EXPECT_EQ(files->Load(2), "x");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "c" / "4.ckpt.tmp"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "c" / "notes.txt"));
}

TEST(CheckpointFilesTest, AFailedSaveKeepsTheOlderCheckpoint) {
  TempDir dir("ablate_ckpt_files");
  std::unique_ptr<CheckpointFiles> files = *CheckpointFiles::Open(dir.path() / "c");
  files->Save(5, "older");
  files->Flush();
  // A file size limit fails the write as a full disk does (EFBIG instead of ENOSPC).
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &before), 0);
  auto* previous = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = before;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  files->Save(5, std::string(64 << 10, 'n'));
  files->Flush();
  setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, previous);
  EXPECT_EQ(files->FailedSaves(), 1);
  EXPECT_EQ(files->Load(5), "older");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "c" / "5.ckpt.tmp"));
}

TEST(CheckpointFilesTest, ADirectoryThatCannotBeCreatedIsNamed) {
  TempDir dir("ablate_ckpt_files");
  { std::ofstream(dir.path() / "file") << "x"; }
  absl::StatusOr<std::unique_ptr<CheckpointFiles>> files =
      CheckpointFiles::Open(dir.path() / "file");
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.status().message().find((dir.path() / "file").string()), std::string::npos);
}

}  // namespace
}  // namespace ablate::jobs
