// The store's single writer: events from every training thread go through one queue into
// batched transactions, and each commit is announced to the CursorHub only after it is
// durable, so a watcher never sees a step the store could lose.
#ifndef ABLATE_SERVER_JOBS_EVENT_WRITER_H_
#define ABLATE_SERVER_JOBS_EVENT_WRITER_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "server/jobs/cursor_hub.h"
#include "server/store/store.h"

namespace ablate::jobs {

class EventWriter {
 public:
  // Borrows the store and the hub, which must outlive the writer. Starts the writer thread.
  EventWriter(store::Store& store, CursorHub& hub);
  // Commits everything posted, then stops the thread.
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Queues an event; returns at once. Events posted by one thread are committed in order.
  void Post(store::Event event);

  // Blocks until every event posted before the call is committed.
  void Flush();

 private:
  void WriteLoop();
  // Appends events in one transaction and announces them, retrying while the store's failure
  // is transient; returns a permanent failure.
  absl::Status Append(std::span<const store::Event> events);
  // Commits a batch; when the store refuses it for good, every event it accepts alone.
  void Commit(const std::vector<store::Event>& batch);

  store::Store& store_;
  CursorHub& hub_;
  std::mutex mutex_;
  std::condition_variable posted_;     // an event arrived, or stopping_, or flushing_
  std::condition_variable committed_;  // committed_count_ advanced
  std::vector<store::Event> pending_;  // guarded by mutex_
  uint64_t posted_count_ = 0;          // guarded by mutex_
  uint64_t committed_count_ = 0;       // guarded by mutex_
  bool stopping_ = false;              // guarded by mutex_
  bool flushing_ = false;              // a Flush waits: commit without waiting; guarded by mutex_
  std::thread thread_;
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_EVENT_WRITER_H_
