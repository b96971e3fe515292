#include "server/service/live_tail.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "server/service/wire.h"

namespace ablate::service {

namespace {

// Events per update read from the store: a finished lab job (about 3,000 steps) replays in a
// couple of messages, and a tail's read after a quiet spell stays small.
constexpr int kMaxEventsPerUpdate = 2000;

bool HasContent(const v1::JobUpdate& u) {
  return u.runs_started_size() > 0 || u.steps_size() > 0 || u.evals_size() > 0 ||
         u.runs_finished_size() > 0 || u.has_job_finished();
}

struct Tail;
struct WatchState;

void Serve(const std::shared_ptr<WatchState>& w);

}  // namespace

struct LiveTails::Core : std::enable_shared_from_this<LiveTails::Core> {
  Core(store::Store& store, jobs::CursorHub& hub, ThreadPool& pool, LiveOptions options)
      : store(store), hub(hub), pool(pool), options(options) {}

  store::Store& store;
  jobs::CursorHub& hub;
  ThreadPool& pool;
  const LiveOptions options;
  std::atomic<uint64_t> reads{0};
  // Seconds; fine around the fan-out interval and the 100 ms a lecture hall should see.
  metrics::Histogram delays{
      {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10}};

  std::mutex mutex;
  std::condition_variable dirtied;                 // a tail became dirty, or stopping
  std::map<int64_t, std::weak_ptr<Tail>> tails;   // by job; guarded by mutex
  std::vector<std::weak_ptr<Tail>> dirty;          // tails with commits to read; guarded by mutex
  bool stopping = false;                           // guarded by mutex
  std::thread fan_out;

  void FanOutLoop();
  void MarkDirty(const std::weak_ptr<Tail>& weak, jobs::CursorHub::Time posted);
  // Marks `tail` dirty at its job's first commit after `after`; returns the hub's ticket.
  uint64_t DirtyAfter(const std::shared_ptr<Tail>& tail, uint64_t after);
};

namespace {

// One slice of a tail: the job's events with sequence numbers in (from, to].
struct Chunk {
  uint64_t from = 0;
  uint64_t to = 0;
  UpdatePtr update;  // null when the slice has nothing to show (a JobStarted)
};

struct Tail {
  Tail(std::shared_ptr<LiveTails::Core> core, int64_t job_id, uint64_t cursor)
      : core(std::move(core)), job_id(job_id), first(cursor), last(cursor) {}
  ~Tail() {
    if (ticket != 0) core->hub.Cancel(ticket);
    std::lock_guard lock(core->mutex);
    auto it = core->tails.find(job_id);
    if (it != core->tails.end() && it->second.expired()) core->tails.erase(it);
  }

  const std::shared_ptr<LiveTails::Core> core;
  const int64_t job_id;
  bool dirty = false;  // queued on core->dirty; guarded by core->mutex
  // When the oldest step of the commits that made it dirty was posted; guarded by core->mutex.
  jobs::CursorHub::Time dirty_posted;

  std::mutex mutex;
  std::deque<Chunk> chunks;  // contiguous: each chunk's from is the previous one's to
  uint64_t first;            // chunks cover (first, last]
  uint64_t last;
  bool finished = false;     // the job's end is in the tail: nothing follows
  absl::Status error;        // the store failed (the job deleted): every watcher is told
  std::vector<std::shared_ptr<WatchState>> waiters;  // cursors at or past last
  uint64_t ticket = 0;       // the hub wait; guarded by mutex
  // Merged updates handed out since the last read, by the cursor they start at: the watchers
  // at one cursor (most of a lecture hall) share one, and so its SSE frame. Weak: a merged
  // update lives only while a watcher holds it. Emptied by every read that adds a chunk.
  std::map<uint64_t, std::weak_ptr<const SharedUpdate>> merged;

  // The update for a watcher at `it->from`: everything the tail holds after it, up to
  // kMaxEventsPerUpdate sequence numbers, as one update (see MergeUpdates). Null, with `*to`
  // set, when that slice has nothing to show. Under mutex.
  UpdatePtr From(std::deque<Chunk>::const_iterator it, uint64_t* to);

  // Reads what was committed after `last` (one read for every watcher), the oldest of it posted
  // at `posted`, and serves the waiters. On the fan-out thread.
  void Fetch(const std::shared_ptr<Tail>& self, jobs::CursorHub::Time posted);
};

// Appends `next` (the events right after `into`'s) to `into`, so that `into` says what both
// said, as the store's ReadUpdate over both slices would: parts in field order, a run's
// consecutive steps in one StepLosses. `next` must not restart a run (a restart replaces the
// run's steps before it, so the update that carries it starts a merge instead).
void Append(const v1::JobUpdate& next, v1::JobUpdate& into) {
  into.set_cursor(next.cursor());
  for (const v1::RunStarted& r : next.runs_started()) *into.add_runs_started() = r;
  for (const v1::StepLosses& s : next.steps()) {
    // The run's newest StepLosses so far: continued when these steps follow it.
    v1::StepLosses* open = nullptr;
    for (int i = into.steps_size() - 1; i >= 0; --i) {
      if (into.steps(i).run_id() == s.run_id()) {
        open = into.mutable_steps(i);
        break;
      }
    }
    if (open != nullptr && open->first_step() + open->losses_size() == s.first_step() &&
        open->losses_size() == open->seconds_size()) {
      open->mutable_losses()->Add(s.losses().begin(), s.losses().end());
      open->mutable_seconds()->Add(s.seconds().begin(), s.seconds().end());
    } else {
      *into.add_steps() = s;
    }
  }
  for (const v1::EvalResult& e : next.evals()) *into.add_evals() = e;
  for (const v1::RunFinished& f : next.runs_finished()) *into.add_runs_finished() = f;
  if (next.has_job_finished()) *into.mutable_job_finished() = next.job_finished();
}

UpdatePtr Tail::From(std::deque<Chunk>::const_iterator it, uint64_t* to) {
  const uint64_t from = it->from;
  // The slice: chunks after `it` join while the whole stays within kMaxEventsPerUpdate
  // sequence numbers and none restarts a run.
  auto end = std::next(it);
  while (end != chunks.end() && end->to - from <= static_cast<uint64_t>(kMaxEventsPerUpdate) &&
         (end->update == nullptr || end->update->update().runs_restarted_size() == 0)) {
    ++end;
  }
  *to = std::prev(end)->to;
  std::vector<UpdatePtr> parts;
  for (auto c = it; c != end; ++c) {
    if (c->update != nullptr) parts.push_back(c->update);
  }
  if (parts.empty()) return nullptr;
  if (parts.size() == 1 && parts.front()->cursor() == *to) return parts.front();
  std::weak_ptr<const SharedUpdate>& slot = merged[from];
  if (UpdatePtr made = slot.lock(); made != nullptr && made->cursor() == *to) return made;
  // Its cursor steps over slices with nothing to show at the end, too.
  auto made = std::make_shared<const SharedUpdate>(std::move(parts), *to);
  slot = made;
  return made;
}

struct WatchState {
  WatchState(std::shared_ptr<LiveTails::Core> core, std::shared_ptr<Tail> tail, int64_t job_id,
             uint64_t cursor)
      : core(std::move(core)), tail(std::move(tail)), job_id(job_id), cursor(cursor) {}
  const std::shared_ptr<LiveTails::Core> core;
  const std::shared_ptr<Tail> tail;  // null for a job that had ended: the store alone serves
  const int64_t job_id;
  const jobs::CursorHub::Time opened = std::chrono::steady_clock::now();

  std::mutex mutex;
  uint64_t cursor;             // guarded by mutex
  JobWatch::Callback pending;  // guarded by mutex
  bool cancelled = false;      // guarded by mutex
  std::mutex delivering;       // held while a callback runs, so Cancel can wait it out
};

void Deliver(const std::shared_ptr<WatchState>& w, absl::StatusOr<UpdatePtr> update) {
  std::lock_guard delivering(w->delivering);
  JobWatch::Callback done;
  {
    std::lock_guard lock(w->mutex);
    if (w->cancelled) return;
    done = std::move(w->pending);
    w->pending = nullptr;
    if (update.ok()) w->cursor = (*update)->cursor();
  }
  if (!done) return;
  // A live update's wait, from its oldest step's post to now: steps older than the watch are
  // history being caught up, not a delay.
  if (update.ok() && (*update)->posted() >= w->opened) {
    w->core->delays.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                          (*update)->posted())
                                .count());
  }
  done(std::move(update));
}

// One read of the store for this watcher alone: up to `max_events` after its cursor. On the
// pool.
// `to_end`: the job has ended and the cursor may be at its end, where the watcher is given the
// job as it is now.
void ReadForWatcher(const std::shared_ptr<WatchState>& w, int max_events, bool to_end) {
  w->core->pool.Post([w, max_events, to_end] {
    for (;;) {
      uint64_t cursor;
      {
        std::lock_guard lock(w->mutex);
        if (w->cancelled) return;
        cursor = w->cursor;
      }
      w->core->reads.fetch_add(1, std::memory_order_relaxed);
      absl::StatusOr<v1::JobUpdate> update =
          wire::ReadUpdate(w->core->store, w->job_id, cursor, max_events);
      if (!update.ok()) return Deliver(w, update.status());
      if (HasContent(*update)) {
        return Deliver(w, std::make_shared<const SharedUpdate>(*std::move(update)));
      }
      if (update->cursor() > cursor) {  // a slice with nothing to show: step over it
        std::lock_guard lock(w->mutex);
        w->cursor = update->cursor();
        if (!to_end) break;  // the tail may hold what follows
        continue;
      }
      if (!to_end) break;  // raced with the tail: serve again
      // An ended job read to its end: the stream closes with the job as it is now, so a
      // watcher resuming at the end is told it ended.
      absl::StatusOr<v1::Job> job = wire::GetJob(w->core->store, w->job_id);
      if (!job.ok()) return Deliver(w, job.status());
      *update->mutable_job_finished()->mutable_job() = *std::move(job);
      return Deliver(w, std::make_shared<const SharedUpdate>(*std::move(update)));
    }
    Serve(w);
  });
}

// Gives the watcher its next update: from the tail when it holds the slice that starts at the
// watcher's cursor; from the store when the cursor is older than the tail (or between its
// slices); else waits in the tail for the next read.
void Serve(const std::shared_ptr<WatchState>& w) {
  uint64_t cursor;
  {
    std::lock_guard lock(w->mutex);
    if (w->cancelled) return;
    cursor = w->cursor;
  }
  if (w->tail == nullptr) return ReadForWatcher(w, kMaxEventsPerUpdate, /*to_end=*/true);
  Tail& t = *w->tail;
  UpdatePtr give;
  absl::Status error;
  int read = 0;
  bool to_end = false;
  {
    std::lock_guard lock(t.mutex);
    for (;;) {
      auto it = std::lower_bound(t.chunks.begin(), t.chunks.end(), cursor,
                                 [](const Chunk& c, uint64_t v) { return c.from < v; });
      if (it != t.chunks.end() && it->from == cursor) {
        // A watcher behind by several rounds catches up in one update.
        uint64_t to = 0;
        give = t.From(it, &to);
        if (give == nullptr) {
          cursor = to;
          continue;
        }
      } else if (!t.error.ok()) {
        error = t.error;
      } else if (cursor < t.last) {
        // Read up to where the tail's slices begin, so that the next update comes from it.
        const uint64_t boundary =
            cursor < t.first ? t.first
                             : std::upper_bound(t.chunks.begin(), t.chunks.end(), cursor,
                                                [](uint64_t v, const Chunk& c) { return v < c.to; })
                                   ->to;
        read = static_cast<int>(std::min<uint64_t>(kMaxEventsPerUpdate, boundary - cursor));
      } else if (t.finished) {
        // At the end of a job that ended after the watch began: as for an ended job.
        read = kMaxEventsPerUpdate;
        to_end = true;
      } else if (absl::Status halted = w->core->hub.Halted(w->job_id, cursor); !halted.ok()) {
        // Everything committed is shown, and neither more nor the job's end can come.
        error = std::move(halted);
      } else {
        t.waiters.push_back(w);
      }
      break;
    }
    // Under the tail's lock: once the watcher is among the waiters, the fan-out thread may
    // serve it, and must see this cursor.
    std::lock_guard own(w->mutex);
    w->cursor = cursor;
  }
  if (give != nullptr) return Deliver(w, std::move(give));
  if (!error.ok()) return Deliver(w, error);
  if (read > 0) ReadForWatcher(w, read, to_end);
}

// `posted`, a time on the steady clock, as a Timestamp on the wall clock (to the microsecond).
google::protobuf::Timestamp WallTimestamp(jobs::CursorHub::Time posted) {
  const auto wall = std::chrono::system_clock::now() -
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::steady_clock::now() - posted);
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count());
}

void Tail::Fetch(const std::shared_ptr<Tail>& self, jobs::CursorHub::Time posted) {
  uint64_t from;
  {
    std::lock_guard lock(mutex);
    if (finished || !error.ok()) return;
    from = last;
  }
  core->reads.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<v1::JobUpdate> update =
      wire::ReadUpdate(core->store, job_id, from, kMaxEventsPerUpdate);
  std::vector<std::shared_ptr<WatchState>> wake;
  bool more = false;
  {
    std::lock_guard lock(mutex);
    if (!update.ok()) {
      error = update.status();
    } else if (update->cursor() > from) {
      const uint64_t to = update->cursor();
      finished = update->has_job_finished();
      if (posted != jobs::CursorHub::Time{}) *update->mutable_posted_at() = WallTimestamp(posted);
      chunks.push_back(Chunk{.from = from,
                             .to = to,
                             .update = HasContent(*update)
                                           ? std::make_shared<const SharedUpdate>(
                                                 *std::move(update), posted)
                                           : nullptr});
      last = to;
      while (chunks.size() > 1 &&
             last - chunks.front().to >= static_cast<uint64_t>(core->options.tail_events)) {
        chunks.pop_front();
      }
      first = chunks.front().from;
      merged.clear();
    }
    more = error.ok() && !finished;
    wake.swap(waiters);
  }
  if (!error.ok()) {
    // A later watch starts a new tail rather than inherit this failure.
    std::lock_guard lock(core->mutex);
    auto it = core->tails.find(job_id);
    if (it != core->tails.end() && it->second.lock() == self) core->tails.erase(it);
  }
  if (more) {
    const uint64_t after = last;  // only this thread moves it
    const uint64_t t = core->DirtyAfter(self, after);
    std::lock_guard lock(mutex);
    ticket = t;
  }
  for (const std::shared_ptr<WatchState>& w : wake) Serve(w);
}

class TailWatch final : public JobWatch {
 public:
  explicit TailWatch(std::shared_ptr<WatchState> state) : state_(std::move(state)) {}
  ~TailWatch() override { Cancel(); }

  void Next(Callback done) override {
    {
      std::lock_guard lock(state_->mutex);
      state_->pending = std::move(done);
    }
    Serve(state_);
  }

  void Cancel() override {
    {
      std::lock_guard lock(state_->mutex);
      state_->cancelled = true;
      state_->pending = nullptr;
    }
    if (state_->tail != nullptr) {
      // The tail must not keep the watch (nor the watch the tail) alive.
      std::lock_guard lock(state_->tail->mutex);
      std::erase(state_->tail->waiters, state_);
    }
    std::lock_guard wait_for_delivery(state_->delivering);
  }

 private:
  std::shared_ptr<WatchState> state_;
};

}  // namespace

SharedUpdate::SharedUpdate(v1::JobUpdate update, Time posted)
    : cursor_(update.cursor()),
      finished_(update.has_job_finished()),
      posted_(posted),
      update_(std::move(update)) {}

SharedUpdate::SharedUpdate(std::vector<UpdatePtr> parts, uint64_t cursor)
    : parts_(std::move(parts)),
      cursor_(cursor),
      finished_(parts_.back()->finished()),
      posted_(parts_.front()->posted()) {}

const v1::JobUpdate& SharedUpdate::update() const {
  if (!parts_.empty()) {
    std::call_once(merged_once_, [this] {
      update_ = parts_.front()->update();
      for (size_t i = 1; i < parts_.size(); ++i) Append(parts_[i]->update(), update_);
      update_.set_cursor(cursor_);
    });
  }
  return update_;
}

const std::string& SharedUpdate::Encoded(
    const std::function<std::string(const v1::JobUpdate&)>& encode) const {
  std::call_once(once_, [&] { encoded_ = encode(update()); });
  return encoded_;
}

uint64_t LiveTails::Core::DirtyAfter(const std::shared_ptr<Tail>& tail, uint64_t after) {
  // The wake holds the tail weakly: a tail whose watchers all left is not kept for its job.
  return hub.WaitAfter(tail->job_id, after,
                       [core = shared_from_this(), weak = std::weak_ptr<Tail>(tail)](
                           jobs::CursorHub::Time posted) { core->MarkDirty(weak, posted); });
}

void LiveTails::Core::MarkDirty(const std::weak_ptr<Tail>& weak, jobs::CursorHub::Time posted) {
  std::shared_ptr<Tail> tail = weak.lock();
  if (tail == nullptr) return;
  {
    std::lock_guard lock(mutex);
    if (tail->dirty) return;
    tail->dirty = true;
    tail->dirty_posted = posted;
    dirty.push_back(weak);
  }
  dirtied.notify_one();
  // `tail` may be the last reference (its watchers left): it is destroyed here, which takes
  // `mutex`, so it is released after the lock above.
}

void LiveTails::Core::FanOutLoop() {
  auto round = std::chrono::steady_clock::now() - options.fan_out_interval;
  for (;;) {
    std::vector<std::weak_ptr<Tail>> now;
    {
      std::unique_lock lock(mutex);
      dirtied.wait(lock, [this] { return stopping || !dirty.empty(); });
      if (stopping) return;
      // Pace: the commits of one interval reach the watchers together.
      dirtied.wait_until(lock, round + options.fan_out_interval, [this] { return stopping; });
      if (stopping) return;
      round = std::chrono::steady_clock::now();
      now.swap(dirty);
    }
    // Strong references are taken and dropped outside the lock: the last one destroys its
    // tail, which takes the lock.
    std::vector<std::shared_ptr<Tail>> live;
    for (const std::weak_ptr<Tail>& weak : now) {
      if (std::shared_ptr<Tail> tail = weak.lock()) live.push_back(std::move(tail));
    }
    std::vector<jobs::CursorHub::Time> posted;
    {
      std::lock_guard lock(mutex);
      for (const std::shared_ptr<Tail>& tail : live) {
        tail->dirty = false;
        posted.push_back(tail->dirty_posted);
      }
    }
    for (size_t i = 0; i < live.size(); ++i) live[i]->Fetch(live[i], posted[i]);
  }
}

LiveTails::LiveTails(store::Store& store, jobs::CursorHub& hub, ThreadPool& pool,
                     LiveOptions options)
    : core_(std::make_shared<Core>(store, hub, pool, options)) {
  core_->fan_out = std::thread([core = core_.get()] { core->FanOutLoop(); });
}

LiveTails::~LiveTails() {
  {
    std::lock_guard lock(core_->mutex);
    core_->stopping = true;
  }
  core_->dirtied.notify_all();
  core_->fan_out.join();
}

absl::StatusOr<std::unique_ptr<JobWatch>> LiveTails::Watch(int64_t job_id, uint64_t cursor,
                                                           bool ended) {
  if (ended) {
    return std::make_unique<TailWatch>(
        std::make_shared<WatchState>(core_, nullptr, job_id, cursor));
  }
  std::shared_ptr<Tail> tail;
  {
    std::lock_guard lock(core_->mutex);
    if (auto it = core_->tails.find(job_id); it != core_->tails.end()) tail = it->second.lock();
  }
  if (tail == nullptr) {
    core_->reads.fetch_add(1, std::memory_order_relaxed);
    absl::StatusOr<uint64_t> last = core_->store.Cursor(job_id);
    if (!last.ok()) return last.status();
    auto fresh = std::make_shared<Tail>(core_, job_id, *last);
    {
      std::lock_guard lock(core_->mutex);
      std::weak_ptr<Tail>& slot = core_->tails[job_id];
      tail = slot.lock();
      if (tail == nullptr) {  // else another watch made one meanwhile: share it
        slot = fresh;
        tail = fresh;
      }
    }
    if (tail == fresh) {
      const uint64_t ticket = core_->DirtyAfter(fresh, *last);
      std::lock_guard lock(fresh->mutex);
      fresh->ticket = ticket;
    }
  }
  return std::make_unique<TailWatch>(std::make_shared<WatchState>(core_, tail, job_id, cursor));
}

uint64_t LiveTails::StoreReads() const { return core_->reads.load(std::memory_order_relaxed); }

metrics::HistogramSnapshot LiveTails::Delays() const { return core_->delays.Read(); }

int LiveTails::Tails() const {
  std::lock_guard lock(core_->mutex);
  int n = 0;
  for (const auto& [job, weak] : core_->tails) n += !weak.expired();
  return n;
}

}  // namespace ablate::service
