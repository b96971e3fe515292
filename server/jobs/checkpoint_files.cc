#include "server/jobs/checkpoint_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace ablate::jobs {

namespace {

constexpr char kSuffix[] = ".ckpt";
constexpr char kTempSuffix[] = ".ckpt.tmp";

// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

std::string Errno() { return std::strerror(errno); }

// Makes the directory's entries (a rename, an unlink) durable.
bool SyncDirectory(const std::filesystem::path& dir, std::string* error) {
  Fd d{open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0 || fsync(d.fd) != 0) {
    *error = absl::StrCat("cannot sync the directory ", dir.string(), ": ", Errno());
    return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointFiles>> CheckpointFiles::Open(
    const std::filesystem::path& dir) {
  // Checkpoints hold a run's weights: readable by the server's user alone, like the database.
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the checkpoint directory ", dir.string(), ": ", Errno()));
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the checkpoint directory ", dir.string(), " is not a directory"));
  }
  if ((st.st_mode & 077) != 0 && chmod(dir.c_str(), 0700) != 0) {
    spdlog::warn("cannot make the checkpoint directory {} private (mode 0700): {}", dir.string(),
                 Errno());
  }
  return std::unique_ptr<CheckpointFiles>(new CheckpointFiles(dir));
}

CheckpointFiles::CheckpointFiles(std::filesystem::path dir)
    : dir_(std::move(dir)), thread_([this] { WriteLoop(); }) {}

CheckpointFiles::~CheckpointFiles() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  queued_.SignalAll();
  thread_.join();
}

std::filesystem::path CheckpointFiles::PathOf(int64_t run_id) const {
  return dir_ / absl::StrCat(run_id, kSuffix);
}

void CheckpointFiles::Save(int64_t run_id, std::string checkpoint) {
  {
    absl::MutexLock lock(&mutex_);
    ++queued_count_;
    // Only the newest checkpoint of a run matters: one not written yet is replaced, unless a
    // removal of the run was queued after it (order must hold across the two).
    for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
      if (it->run_id != run_id) continue;
      if (it->checkpoint) {
        *it->checkpoint = std::move(checkpoint);
        ++done_count_;
        done_.SignalAll();
        return;
      }
      break;
    }
    ops_.push_back(Op{run_id, std::move(checkpoint)});
  }
  queued_.Signal();
}

void CheckpointFiles::Remove(int64_t run_id) {
  {
    absl::MutexLock lock(&mutex_);
    ++queued_count_;
    ops_.push_back(Op{run_id, std::nullopt});
  }
  queued_.Signal();
}

void CheckpointFiles::Flush() {
  absl::MutexLock lock(&mutex_);
  const uint64_t target = queued_count_;
  while (done_count_ < target) done_.Wait(&mutex_);
}

int CheckpointFiles::FailedSaves() const {
  absl::MutexLock lock(&mutex_);
  return failed_saves_;
}

void CheckpointFiles::WriteLoop() {
  for (;;) {
    Op op;
    {
      absl::MutexLock lock(&mutex_);
      while (!(stopping_ || !ops_.empty())) queued_.Wait(&mutex_);
      if (ops_.empty()) return;  // stopping, and everything is done
      op = std::move(ops_.front());
      ops_.pop_front();
    }
    bool failed = false;
    if (op.checkpoint) {
      failed = !Write(op.run_id, *op.checkpoint);
    } else {
      Delete(op.run_id);
    }
    {
      absl::MutexLock lock(&mutex_);
      ++done_count_;
      failed_saves_ += failed;
    }
    done_.SignalAll();
  }
}

bool CheckpointFiles::Write(int64_t run_id, const std::string& checkpoint) {
  const std::filesystem::path path = PathOf(run_id);
  const std::filesystem::path temp = dir_ / absl::StrCat(run_id, kTempSuffix);
  std::string error;
  auto fail = [&](std::string why) {
    unlink(temp.c_str());
    spdlog::warn("run {}: could not save a checkpoint ({}); the previous one stays, and a resume "
                 "after a crash replays the steps since",
                 run_id, why);
    return false;
  };
  {
    Fd out{open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (out.fd < 0) return fail(absl::StrCat("cannot create ", temp.string(), ": ", Errno()));
    size_t written = 0;
    while (written < checkpoint.size()) {
      const ssize_t n = write(out.fd, checkpoint.data() + written, checkpoint.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail(absl::StrCat("cannot write ", temp.string(), ": ", Errno()));
      written += static_cast<size_t>(n);
    }
    // Durable before the rename: otherwise a crash could leave the new name on an empty file.
    if (fsync(out.fd) != 0) {
      return fail(absl::StrCat("cannot sync ", temp.string(), ": ", Errno()));
    }
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return fail(absl::StrCat("cannot rename ", temp.string(), ": ", Errno()));
  }
  if (!SyncDirectory(dir_, &error)) {
    // The new file is in place; only its durability across a power cut is in doubt.
    spdlog::warn("run {}: {}", run_id, error);
  }
  return true;
}

void CheckpointFiles::Delete(int64_t run_id) {
  const std::filesystem::path path = PathOf(run_id);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("run {}: cannot remove its checkpoint {}: {}", run_id, path.string(), Errno());
  }
}

std::string CheckpointFiles::Load(int64_t run_id) const {
  const std::filesystem::path path = PathOf(run_id);
  Fd in{open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) {
    if (errno != ENOENT) {
      spdlog::warn("run {}: cannot read its checkpoint {}: {}", run_id, path.string(), Errno());
    }
    return {};
  }
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = read(in.fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      spdlog::warn("run {}: cannot read its checkpoint {}: {}", run_id, path.string(), Errno());
      return {};
    }
    if (n == 0) return bytes;
    bytes.append(buffer, static_cast<size_t>(n));
  }
}

int CheckpointFiles::RemoveAllExcept(const std::set<int64_t>& keep) {
  int removed = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, error)) {
    const std::string name = entry.path().filename().string();
    int64_t run_id = 0;
    bool stale = false;
    if (name.ends_with(kTempSuffix)) {
      stale = true;  // a write a crash interrupted
    } else if (name.ends_with(kSuffix) &&
               absl::SimpleAtoi(name.substr(0, name.size() - std::strlen(kSuffix)), &run_id)) {
      stale = !keep.contains(run_id);
    }
    if (stale && unlink(entry.path().c_str()) == 0) ++removed;
  }
  if (error) {
    spdlog::warn("cannot list the checkpoint directory {}: {}", dir_.string(), error.message());
  }
  return removed;
}

}  // namespace ablate::jobs
