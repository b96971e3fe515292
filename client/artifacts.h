// Downloading a finished job's deliverables: each file checked against the size and SHA-256
// the server announces, and written atomically (a temporary file in the same directory,
// renamed over the target only once complete and verified), so a failed download never leaves
// a truncated file behind.
#ifndef ABLATE_CLIENT_ARTIFACTS_H_
#define ABLATE_CLIENT_ARTIFACTS_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/connection.h"
#include "proto/sha256.h"

namespace ablate::client {

// The deliverables `download` and `lab` ask for, in this order. Only job.json is required:
// the server may not produce every plot (of the two loss scales it stores only the one that
// is not the headline's).
inline constexpr std::array<absl::string_view, 8> kDeliverables = {
    "job.json",
    "losses.json",
    "loss_curves.png",
    "loss_curves_linear.png",
    "loss_curves_log.png",
    "layer_stats.png",
    "manifest.json",
    "README.md",
};
inline constexpr absl::string_view kRequiredDeliverable = "job.json";

// Checks one artifact's chunks against what its first chunk announced.
class ArtifactCheck {
 public:
  // `requested` is the name asked for; `first` the first chunk of the answer. Fails when the
  // first chunk names another file or lacks the size or the SHA-256.
  absl::Status Begin(absl::string_view requested, const v1::ArtifactChunk& first);
  // Counts and hashes the next bytes of the file.
  void Add(absl::string_view data);
  // Fails (DataLoss) when the bytes received differ from the announced size or SHA-256.
  absl::Status Finish();

  ArtifactCheck();
  ~ArtifactCheck();
  ArtifactCheck(const ArtifactCheck&) = delete;
  ArtifactCheck& operator=(const ArtifactCheck&) = delete;

 private:
  std::string name_;
  int64_t expected_size_ = 0;
  std::string expected_sha256_;
  int64_t received_ = 0;
  Sha256 hasher_;
};

// A file written under a temporary name and renamed to `path` by Commit(); dropped (the
// temporary removed) when destroyed uncommitted.
class AtomicFile {
 public:
  static absl::StatusOr<std::unique_ptr<AtomicFile>> Create(const std::filesystem::path& path);
  ~AtomicFile();

  absl::Status Write(absl::string_view data);
  // Flushes to disk and renames over `path`. Call at most once.
  absl::Status Commit();

 private:
  AtomicFile(std::filesystem::path path, std::filesystem::path temp, int fd)
      : path_(std::move(path)), temp_(std::move(temp)), fd_(fd) {}

  std::filesystem::path path_;
  std::filesystem::path temp_;
  int fd_ = -1;
};

// Downloads artifact `name` of job `job_id` to `dir`/`name` (GetArtifact, with the unary
// deadline). Returns false, writing nothing, when the server has no such file (NOT_FOUND).
absl::StatusOr<bool> DownloadArtifact(Connection& connection, int64_t job_id,
                                      absl::string_view name, const std::filesystem::path& dir);

// A directory held for one job's deliverables: created when missing and locked (flock on the
// directory itself, released when this is destroyed or the process ends), so that a second
// `ablate` writing into it fails at once with a sentence instead of mixing two jobs' files.
// `lab` opens it before submitting, which also checks --out before any training. A directory
// it created is removed again if nothing was written into it (a lab whose job failed).
class DownloadDir {
 public:
  static absl::StatusOr<std::unique_ptr<DownloadDir>> Open(const std::filesystem::path& dir);
  ~DownloadDir();
  DownloadDir(const DownloadDir&) = delete;
  DownloadDir& operator=(const DownloadDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  int fd() const { return fd_; }

 private:
  DownloadDir(std::filesystem::path path, int fd, bool created)
      : path_(std::move(path)), fd_(fd), created_(created) {}

  std::filesystem::path path_;
  int fd_;
  bool created_;
};

// OK when job `job_id` exists and has ended, so that its files can be downloaded; else a clear
// answer (an unknown id, or a job still queued or running) before any directory is made.
absl::Status CheckJobEnded(Connection& connection, int64_t job_id);

// Downloads every deliverable the server has (kDeliverables) of an ended job into `dir`, and
// prints each path written to `out`, one per line. The files are fetched side by side and
// verified into a hidden folder inside `dir`, and moved into place only once all have arrived,
// so a failed download leaves `dir` as it was; a deliverable an earlier job left there that
// this job does not have is removed (and said), so the folder never holds one job's manifest
// beside another's plot. Fails when job.json is missing (as for a job that has not ended), or
// with the first file (in kDeliverables' order) that cannot be fetched, verified or written.
// Returns the paths written.
absl::StatusOr<std::vector<std::filesystem::path>> DownloadDeliverables(
    Connection& connection, int64_t job_id, const DownloadDir& dir, std::ostream& out);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_ARTIFACTS_H_
