#include "server/service/download_shelf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace ablate::service {
namespace {

// Files by name (job 1 only), with the number of data reads and a gate that can hold them.
class GatedFiles final : public store::ArtifactStore {
 public:
  void Add(const std::string& name, std::string data) {
    std::lock_guard lock(mutex_);
    files_[name] = std::move(data);
  }
  absl::Status PutArtifact(int64_t, const store::Artifact&) override {
    return absl::UnimplementedError("read only");
  }
  absl::StatusOr<store::Artifact> GetArtifact(int64_t job_id, const std::string& name) override {
    std::unique_lock lock(mutex_);
    ++reads_;
    in_read_.notify_all();
    opened_.wait(lock, [&] { return open_; });
    auto it = files_.find(name);
    if (job_id != 1 || it == files_.end()) return absl::NotFoundError("no such file");
    return store::Artifact{name, "text/plain", it->second, ""};
  }
  absl::StatusOr<int64_t> ArtifactSize(int64_t job_id, const std::string& name) override {
    std::lock_guard lock(mutex_);
    auto it = files_.find(name);
    if (job_id != 1 || it == files_.end()) return absl::NotFoundError("no such file");
    return static_cast<int64_t>(it->second.size());
  }

  void Hold() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void Release() {
    std::lock_guard lock(mutex_);
    open_ = true;
    opened_.notify_all();
  }
  void WaitForReads(int n) {
    std::unique_lock lock(mutex_);
    in_read_.wait(lock, [&] { return reads_ >= n; });
  }
  int reads() {
    std::lock_guard lock(mutex_);
    return reads_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_, in_read_;
  std::map<std::string, std::string> files_;
  int reads_ = 0;
  bool open_ = true;
};

TEST(DownloadShelfTest, DownloadsAtOnceShareOneReadAndOneCopy) {
  GatedFiles files;
  files.Add("losses.json", std::string(1000, 'x'));
  DownloadShelf shelf(1 << 20);
  files.Hold();
  absl::StatusOr<std::shared_ptr<const HeldArtifact>> first, second;
  std::thread a([&] { first = shelf.Take(files, 1, "losses.json"); });
  files.WaitForReads(1);
  std::thread b([&] { second = shelf.Take(files, 1, "losses.json"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // b waits for a's read
  files.Release();
  a.join();
  b.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ(files.reads(), 1);
  EXPECT_EQ((*first)->artifact().data, std::string(1000, 'x'));
  EXPECT_EQ(shelf.HeldBytes(), 1000);
  // Held while a download holds it: another is served from memory.
  EXPECT_EQ(shelf.Take(files, 1, "losses.json")->get(), first->get());
  EXPECT_EQ(files.reads(), 1);
  first = absl::UnknownError("dropped");
  second = absl::UnknownError("dropped");
  EXPECT_EQ(shelf.HeldBytes(), 0);
  // Let go with its last download: the next one reads the store again.
  ASSERT_TRUE(shelf.Take(files, 1, "losses.json").ok());
  EXPECT_EQ(files.reads(), 2);
}

TEST(DownloadShelfTest, ADownloadThatWouldPassTheBoundIsRefusedWithoutReadingItsData) {
  GatedFiles files;
  files.Add("a.json", std::string(60, 'a'));
  files.Add("b.json", std::string(50, 'b'));
  DownloadShelf shelf(100);
  auto a = shelf.Take(files, 1, "a.json");
  ASSERT_TRUE(a.ok());
  auto b = shelf.Take(files, 1, "b.json");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b.status().message(),
            "job 1's b.json (50 bytes) cannot be sent now: the server holds 60 bytes of files "
            "for downloads in flight, and its limit is 100 bytes (--max-download-memory); try "
            "again in a few seconds.");
  EXPECT_EQ(files.reads(), 1);  // b's data was never read
  EXPECT_EQ(shelf.HeldBytes(), 60);
  a = absl::UnknownError("dropped");
  b = shelf.Take(files, 1, "b.json");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->artifact().data, std::string(50, 'b'));
}

TEST(DownloadShelfTest, AFileLargerThanTheBoundIsSentWhileNothingElseIsHeld) {
  GatedFiles files;
  files.Add("big", std::string(500, 'x'));
  files.Add("small", "s");
  DownloadShelf shelf(100);
  auto big = shelf.Take(files, 1, "big");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(shelf.Take(files, 1, "small").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(shelf.Take(files, 1, "big").ok());  // the same file, shared
}

TEST(DownloadShelfTest, TheCompressedFormIsMadeOnceAndCounted) {
  GatedFiles files;
  files.Add("losses.json", std::string(100, 'x'));
  DownloadShelf shelf(1 << 20);
  auto held = shelf.Take(files, 1, "losses.json");
  ASSERT_TRUE(held.ok());
  std::atomic<int> made{0};
  auto compress = [&](std::string_view data) {
    ++made;
    return std::string(data.substr(0, 10));
  };
  EXPECT_EQ((*held)->Compressed(compress), std::string(10, 'x'));
  EXPECT_EQ((*held)->Compressed(compress), std::string(10, 'x'));
  EXPECT_EQ(made, 1);
  EXPECT_EQ(shelf.HeldBytes(), 110);
  held = absl::UnknownError("dropped");
  EXPECT_EQ(shelf.HeldBytes(), 0);
}

TEST(DownloadShelfTest, TheStoresErrorsPassThroughAndHoldNothing) {
  GatedFiles files;
  DownloadShelf shelf(100);
  EXPECT_EQ(shelf.Take(files, 1, "missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(shelf.Take(files, 2, "missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(shelf.HeldBytes(), 0);
  files.Add("missing", "now here");
  auto found = shelf.Take(files, 1, "missing");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ((*found)->artifact().data, "now here");
}

}  // namespace
}  // namespace ablate::service
