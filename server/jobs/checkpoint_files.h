// Where the server keeps its runs' checkpoints: one file per run, <dir>/<run id>.ckpt, each the
// latest checkpoint (core/checkpoint.h) of a run that has not ended.
//
// Files are written on a thread of their own, whole or not at all: a temporary file, fsync,
// rename over the old one, fsync of the directory. A crash at any moment leaves either the old
// checkpoint or the new one, never a part. A write that fails (a full disk) keeps the older
// checkpoint and is logged; the run goes on, and a resume after a crash then replays more steps.
//
// When to save is the caller's business: the event writer hands a checkpoint over only once the
// steps before it are committed, so a file is never ahead of the stored steps.
#ifndef ABLATE_SERVER_JOBS_CHECKPOINT_FILES_H_
#define ABLATE_SERVER_JOBS_CHECKPOINT_FILES_H_

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ablate::jobs {

// Thread-safe.
class CheckpointFiles {
 public:
  // Creates `dir` (mode 0700) if needed and starts the writing thread. An error names the
  // directory when it cannot be created or is not a directory.
  static absl::StatusOr<std::unique_ptr<CheckpointFiles>> Open(const std::filesystem::path& dir);
  // Finishes the queued saves and removals, then stops the thread.
  ~CheckpointFiles();
  CheckpointFiles(const CheckpointFiles&) = delete;
  CheckpointFiles& operator=(const CheckpointFiles&) = delete;

  // Queues `checkpoint` as run `run_id`'s file (mode 0600); returns at once. Saves and removals
  // of a run take effect in the order they were queued; a save still queued when a newer one of
  // the same run arrives is replaced by it.
  void Save(int64_t run_id, std::string checkpoint) ABSL_LOCKS_EXCLUDED(mutex_);
  // Queues the removal of the run's file (the run ended, or its checkpoint is stale).
  void Remove(int64_t run_id) ABSL_LOCKS_EXCLUDED(mutex_);
  // Blocks until everything queued before the call is done.
  void Flush() ABSL_LOCKS_EXCLUDED(mutex_);

  // The run's file as it is on disk now (empty when it has none or it cannot be read: the run
  // then starts from step 0). Not the content of a save still queued.
  std::string Load(int64_t run_id) const;
  // Removes now the files of every run not in `keep`, and leftover temporary files: what a
  // crash left of runs that have ended since. Returns how many files it removed.
  int RemoveAllExcept(const std::set<int64_t>& keep);

  // Saves that could not be written (and left the older file in place), since Open.
  int FailedSaves() const ABSL_LOCKS_EXCLUDED(mutex_);

  std::filesystem::path PathOf(int64_t run_id) const;

 private:
  explicit CheckpointFiles(std::filesystem::path dir);
  struct Op {
    int64_t run_id = 0;
    std::optional<std::string> checkpoint;  // none: remove
  };
  void WriteLoop() ABSL_LOCKS_EXCLUDED(mutex_);
  // Writes one file atomically; false (logged) when it could not.
  bool Write(int64_t run_id, const std::string& checkpoint);
  void Delete(int64_t run_id);

  const std::filesystem::path dir_;
  mutable absl::Mutex mutex_;
  absl::CondVar queued_;  // ops_ grew, or stopping_
  absl::CondVar done_;    // done_count_ advanced
  std::deque<Op> ops_ ABSL_GUARDED_BY(mutex_);
  // Ops ever queued (replaced saves count as done).
  uint64_t queued_count_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t done_count_ ABSL_GUARDED_BY(mutex_) = 0;
  int failed_saves_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_CHECKPOINT_FILES_H_
