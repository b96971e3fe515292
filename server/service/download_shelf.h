// The files being downloaded, held once. However many clients fetch one of a job's files at
// the same time (a lecture hall downloading the instructor's job), the store is read once and
// the server holds one copy, shared by every download in flight and dropped with the last one.
//
// The written memory policy: the bytes held for downloads at once (each file held once, its
// compressed form included) stay under a bound (--max-download-memory). A download that
// would pass it is refused with Unavailable, a sentence that says to try again shortly,
// rather than let a class's downloads take the server's memory. One file larger than the
// bound is still sent while nothing else is held, so every file can be fetched.
#ifndef ABLATE_SERVER_SERVICE_DOWNLOAD_SHELF_H_
#define ABLATE_SERVER_SERVICE_DOWNLOAD_SHELF_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "server/store/artifact_store.h"

namespace ablate::service {

// One file as held for its downloads; immutable once made, but for its compressed form.
class HeldArtifact {
 public:
  using Compress = std::function<std::string(std::string_view)>;
  const store::Artifact& artifact() const { return artifact_; }
  // compress(artifact().data), made by the first caller and kept for the others (counted
  // against the shelf's bound from then on). Every caller must pass the same compression.
  const std::string& Compressed(const Compress& compress) const;

  struct Account;  // the shelf's books, which the held file's bytes leave with it
  HeldArtifact(store::Artifact artifact, std::shared_ptr<Account> account);
  ~HeldArtifact();
  HeldArtifact(const HeldArtifact&) = delete;
  HeldArtifact& operator=(const HeldArtifact&) = delete;

 private:
  const store::Artifact artifact_;
  const std::shared_ptr<Account> account_;
  mutable std::once_flag compressed_once_;
  mutable std::string compressed_;
};

// Thread-safe.
class DownloadShelf {
 public:
  // `max_bytes`: the bound above; at least 1.
  explicit DownloadShelf(int64_t max_bytes);

  // Job `job_id`'s file `name`: the copy a download in flight holds, else read from `store`
  // (once, however many ask for it meanwhile), its size checked against the bound before its
  // data is read. Unavailable when holding it would pass the bound; the store's errors as
  // they are.
  absl::StatusOr<std::shared_ptr<const HeldArtifact>> Take(store::ArtifactStore& store,
                                                           int64_t job_id,
                                                           const std::string& name);

  // Bytes held now, and the bound.
  int64_t HeldBytes() const;
  int64_t max_bytes() const { return max_bytes_; }

 private:
  struct Slot;
  const int64_t max_bytes_;
  const std::shared_ptr<HeldArtifact::Account> account_;
  std::mutex mutex_;
  std::map<std::pair<int64_t, std::string>, std::shared_ptr<Slot>> slots_;  // guarded
};

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_DOWNLOAD_SHELF_H_
