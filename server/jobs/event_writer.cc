#include "server/jobs/event_writer.h"

#include <chrono>

#include "spdlog/spdlog.h"

namespace ablate::jobs {

namespace {

// A commit that failed for a passing reason (database locked, disk full) is retried, never
// dropped: training goes on in memory and its steps land once the store accepts them again.
constexpr auto kRetryDelay = std::chrono::milliseconds(500);

// Group commit: a batch's first event waits this long for others before the transaction. A
// lab step takes a few milliseconds per run, so a commit then carries a step of each run or
// more: a third of the transactions, hub wakes, watch reads and stream messages (and of the
// CPU they take from training) for at most 5 ms more latency to watchers.
constexpr auto kCommitWindow = std::chrono::milliseconds(5);

bool Transient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsResourceExhausted(status) ||
         absl::IsInternal(status);
}

}  // namespace

EventWriter::EventWriter(store::Store& store, CursorHub& hub)
    : store_(store), hub_(hub), thread_([this] { WriteLoop(); }) {}

EventWriter::~EventWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  posted_.notify_all();
  thread_.join();
}

void EventWriter::Post(store::Event event) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(event));
    ++posted_count_;
  }
  posted_.notify_one();
}

void EventWriter::Flush() {
  std::unique_lock lock(mutex_);
  const uint64_t target = posted_count_;
  if (committed_count_ >= target) return;
  flushing_ = true;  // the writer skips the rest of its window
  posted_.notify_one();
  committed_.wait(lock, [&] { return committed_count_ >= target; });
}

absl::Status EventWriter::Append(std::span<const store::Event> events) {
  for (;;) {
    absl::StatusOr<std::vector<store::JobCursor>> cursors = store_.Append(events);
    if (cursors.ok()) {
      hub_.Publish(*cursors);
      return absl::OkStatus();
    }
    if (!Transient(cursors.status())) return cursors.status();
    spdlog::error("could not record {} events, retrying: {}", events.size(),
                  std::string(cursors.status().message()));
    std::this_thread::sleep_for(kRetryDelay);
  }
}

void EventWriter::Commit(const std::vector<store::Event>& batch) {
  if (Append(batch).ok()) return;
  // The store refused the batch for good: an event breaks one of its rules (a bug, never a
  // user's input). The others are committed one by one, so one bad event cannot stall every
  // job.
  for (const store::Event& event : batch) {
    if (absl::Status s = Append(std::span(&event, 1)); !s.ok()) {
      spdlog::error("dropped an event the store refused: {}", std::string(s.message()));
    }
  }
}

// Batches form by themselves: whatever arrives while one transaction commits, or in the
// kCommitWindow after a batch's first event, goes into the same transaction.
void EventWriter::WriteLoop() {
  std::vector<store::Event> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      posted_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, and everything is committed
      posted_.wait_for(lock, kCommitWindow, [this] { return stopping_ || flushing_; });
      flushing_ = false;
      batch.swap(pending_);
    }
    Commit(batch);
    {
      std::lock_guard lock(mutex_);
      committed_count_ += batch.size();
    }
    committed_.notify_all();
    batch.clear();
  }
}

}  // namespace ablate::jobs
