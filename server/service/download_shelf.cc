#include "server/service/download_shelf.h"

#include <atomic>
#include <condition_variable>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ablate::service {

struct HeldArtifact::Account {
  std::atomic<int64_t> held{0};
};

namespace {

std::string Size(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " bytes");
  if (bytes < 1024 * 1024) return absl::StrFormat("%.1f KiB", static_cast<double>(bytes) / 1024);
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

}  // namespace

HeldArtifact::HeldArtifact(store::Artifact artifact, std::shared_ptr<Account> account)
    : artifact_(std::move(artifact)), account_(std::move(account)) {}

HeldArtifact::~HeldArtifact() {
  account_->held -= static_cast<int64_t>(artifact_.data.size() + compressed_.size());
}

const std::string& HeldArtifact::Compressed(const Compress& compress) const {
  std::call_once(compressed_once_, [&] {
    compressed_ = compress(artifact_.data);
    account_->held += static_cast<int64_t>(compressed_.size());
  });
  return compressed_;
}

struct DownloadShelf::Slot {
  std::weak_ptr<const HeldArtifact> held;  // the copy downloads in flight share, if any
  bool reading = false;                    // a Take is reading the file from the store
  int waiting = 0;                         // Takes waiting for that read
  std::condition_variable done;            // the read ended
};

DownloadShelf::DownloadShelf(int64_t max_bytes)
    : max_bytes_(max_bytes), account_(std::make_shared<HeldArtifact::Account>()) {}

int64_t DownloadShelf::HeldBytes() const { return account_->held.load(); }

absl::StatusOr<std::shared_ptr<const HeldArtifact>> DownloadShelf::Take(
    store::ArtifactStore& store, int64_t job_id, const std::string& name) {
  std::unique_lock lock(mutex_);
  std::shared_ptr<Slot>& entry = slots_[{job_id, name}];
  if (entry == nullptr) entry = std::make_shared<Slot>();
  const std::shared_ptr<Slot> slot = entry;
  for (;;) {
    if (std::shared_ptr<const HeldArtifact> held = slot->held.lock()) return held;
    if (!slot->reading) break;
    ++slot->waiting;
    slot->done.wait(lock);
    --slot->waiting;
  }
  // Not held: this Take reads it, and whoever asks meanwhile waits for that read.
  slot->reading = true;
  // Ends this read, successful or not, and forgets the books of files no download holds.
  auto finish = [&] {
    slot->reading = false;
    slot->done.notify_all();
    for (auto it = slots_.begin(); it != slots_.end();) {
      const Slot& s = *it->second;
      const bool idle = s.held.expired() && !s.reading && s.waiting == 0;
      it = idle ? slots_.erase(it) : std::next(it);
    }
  };
  lock.unlock();
  absl::StatusOr<int64_t> size = store.ArtifactSize(job_id, name);
  lock.lock();
  if (!size.ok()) {
    finish();
    return size.status();
  }
  // The bytes are reserved before the data is read, so that downloads of many large files
  // at once cannot all read theirs first.
  const int64_t held = account_->held.load();
  if (held > 0 && held + *size > max_bytes_) {
    finish();
    return absl::UnavailableError(absl::StrCat(
        "job ", job_id, "'s ", name, " (", Size(*size), ") cannot be sent now: the server holds ",
        Size(held), " of files for downloads in flight, and its limit is ", Size(max_bytes_),
        " (--max-download-memory); try again in a few seconds."));
  }
  account_->held += *size;
  lock.unlock();
  absl::StatusOr<store::Artifact> artifact = store.GetArtifact(job_id, name);
  lock.lock();
  account_->held -= *size;  // the held file counts its own bytes from here
  if (!artifact.ok()) {
    finish();
    return artifact.status();
  }
  account_->held += static_cast<int64_t>(artifact->data.size());
  auto made = std::make_shared<const HeldArtifact>(*std::move(artifact), account_);
  slot->held = made;
  finish();
  return made;
}

}  // namespace ablate::service
