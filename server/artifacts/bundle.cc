#include "server/artifacts/bundle.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/sha256.h"
#include "server/artifacts/artifacts.h"
#include "server/artifacts/zip.h"

namespace ablate::artifacts {

absl::StatusOr<store::Artifact> MakeBundle(int64_t job_id, const std::vector<store::Artifact>& files,
                                           absl::Time modified) {
  std::vector<ZipEntry> entries;
  for (const store::Artifact& f : files) entries.push_back(ZipEntry{f.name, f.data});
  absl::StatusOr<std::string> zip = MakeZip(absl::StrCat("ablate-job-", job_id), entries, modified);
  if (!zip.ok()) return zip.status();
  store::Artifact bundle;
  bundle.name = kBundleFile;
  bundle.content_type = "application/zip";
  bundle.sha256 = Sha256Hex(*zip);
  bundle.data = *std::move(zip);
  return bundle;
}

absl::Status BundlingArtifactStore::PutArtifact(int64_t job_id, const store::Artifact& artifact) {
  return store_.PutArtifact(job_id, artifact);
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> BundlingArtifactStore::StoredFiles(
    int64_t job_id) {
  std::vector<std::pair<std::string, int64_t>> files;
  for (const char* name : kRenderedFiles) {
    absl::StatusOr<int64_t> size = store_.ArtifactSize(job_id, name);
    if (absl::IsNotFound(size.status())) continue;
    if (!size.ok()) return size.status();
    files.emplace_back(name, *size);
  }
  return files;
}

absl::StatusOr<store::Artifact> BundlingArtifactStore::GetArtifact(int64_t job_id,
                                                                   const std::string& name) {
  absl::StatusOr<store::Artifact> stored = store_.GetArtifact(job_id, name);
  if (name != kBundleFile || !absl::IsNotFound(stored.status())) return stored;
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> names = StoredFiles(job_id);
  if (!names.ok()) return names.status();
  if (names->empty()) return stored.status();  // the store's NotFound: no job, or no files
  std::vector<store::Artifact> files;
  for (const auto& [file, size] : *names) {
    absl::StatusOr<store::Artifact> read = store_.GetArtifact(job_id, file);
    if (!read.ok()) return read.status();
    files.push_back(*std::move(read));
  }
  absl::StatusOr<store::JobRecord> job = store_.GetJob(job_id);
  if (!job.ok()) return job.status();
  return MakeBundle(job_id, files, job->finished_at.value_or(job->created_at));
}

absl::StatusOr<int64_t> BundlingArtifactStore::ArtifactSize(int64_t job_id,
                                                            const std::string& name) {
  absl::StatusOr<int64_t> stored = store_.ArtifactSize(job_id, name);
  if (name != kBundleFile || !absl::IsNotFound(stored.status())) return stored;
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> files = StoredFiles(job_id);
  if (!files.ok()) return files.status();
  if (files->empty()) return stored.status();
  // The archive: per entry, a local header and a central directory record (under 100 bytes
  // each besides the path; 512 leaves room for libzip's extra fields) and deflate's worst case
  // on data it cannot compress (5 bytes per 16 KiB stored block); then the end records, zip64's
  // included. Making it holds the files too, so a download reserves both.
  int64_t files_bytes = 0, archive_bound = 1024;
  for (const auto& [file, size] : *files) {
    files_bytes += size;
    archive_bound += size + size / 1024 + 512;
  }
  return files_bytes + archive_bound;
}

}  // namespace ablate::artifacts
