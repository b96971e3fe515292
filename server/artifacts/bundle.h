// bundle.zip: a job's files in one archive, for the web page's single download. It is made when
// it is asked for, from the files the store holds, rather than stored beside them, where it
// would keep every figure a second time (about 45 % of a lab job's stored bytes).
//
// Its entries are the stored files' own bytes (manifest.json gives their sha256s), under the
// folder ablate-job-<id>, each stamped with the job's end. Its own bytes depend on the server's
// libzip and zlib only, so every download from one server build gets the same archive. A job
// finished by an earlier version, which stored its bundle.zip, keeps that one.
#ifndef ABLATE_SERVER_ARTIFACTS_BUNDLE_H_
#define ABLATE_SERVER_ARTIFACTS_BUNDLE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/store.h"

namespace ablate::artifacts {

inline constexpr const char* kBundleFile = "bundle.zip";

// bundle.zip holding `files` (a job's files, in the order RenderJobArtifacts makes them) under
// ablate-job-<job_id>, stamped `modified`. Internal when libzip fails.
absl::StatusOr<store::Artifact> MakeBundle(int64_t job_id, const std::vector<store::Artifact>& files,
                                           absl::Time modified);

// The store as downloads see it: every file as stored, and bundle.zip made from the job's
// stored files when the job has none stored. Thread-safe as the store is.
class BundlingArtifactStore final : public store::ArtifactStore {
 public:
  // Borrows `store`, which must outlive this.
  explicit BundlingArtifactStore(store::Store& store) : store_(store) {}

  absl::Status PutArtifact(int64_t job_id, const store::Artifact& artifact) override;
  // bundle.zip: read every file of the job and zip them (NotFound naming the job and
  // bundle.zip when it has none).
  absl::StatusOr<store::Artifact> GetArtifact(int64_t job_id, const std::string& name) override;
  // bundle.zip, when made: what making it holds at once, its files and at most the archive
  // (their sizes, its headers and deflate's worst case), which a download reserves before the
  // bytes exist (the download shelf's --max-download-memory); so at least the bundle's size.
  absl::StatusOr<int64_t> ArtifactSize(int64_t job_id, const std::string& name) override;

 private:
  // The names and sizes of the job's stored files, in the order RenderJobArtifacts makes them.
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> StoredFiles(int64_t job_id);

  store::Store& store_;
};

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_BUNDLE_H_
