#include "client/artifacts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/format.h"

namespace ablate::client {
namespace {

std::string Errno() { return std::strerror(errno); }

}  // namespace

ArtifactCheck::ArtifactCheck() = default;
ArtifactCheck::~ArtifactCheck() = default;

absl::Status ArtifactCheck::Begin(absl::string_view requested, const v1::ArtifactChunk& first) {
  name_ = std::string(requested);
  if (!first.name().empty() && first.name() != requested) {
    return absl::InternalError(absl::StrCat("asked for ", requested, ", the server sent ",
                                            first.name(), " (a server bug: please report it)"));
  }
  if (first.sha256().empty()) {
    return absl::InternalError(absl::StrCat("the server sent ", requested,
                                            " without its SHA-256 (a server bug: please report "
                                            "it)"));
  }
  if (first.size() < 0) {
    return absl::InternalError(absl::StrCat("the server announced a negative size for ", requested,
                                            " (a server bug: please report it)"));
  }
  expected_size_ = first.size();
  expected_sha256_ = absl::AsciiStrToLower(first.sha256());
  return absl::OkStatus();
}

void ArtifactCheck::Add(absl::string_view data) {
  received_ += static_cast<int64_t>(data.size());
  hasher_.Update(std::string_view(data.data(), data.size()));
}

absl::Status ArtifactCheck::Finish() {
  if (received_ != expected_size_) {
    return absl::DataLossError(absl::StrCat(name_, " arrived with ", received_,
                                            " bytes, but the server announced ", expected_size_));
  }
  const std::string actual = hasher_.HexDigest();
  if (actual != expected_sha256_) {
    return absl::DataLossError(absl::StrCat(name_, " arrived corrupted: its SHA-256 is ", actual,
                                            ", the server announced ", expected_sha256_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Create(const std::filesystem::path& path) {
  // The temporary lives next to the target, so the final rename stays within one file system
  // and is atomic.
  std::filesystem::path temp = path;
  temp.replace_filename(absl::StrCat(".", path.filename().string(), ".part-XXXXXX"));
  std::string pattern = temp.string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", path.string(), ": ", Errno()));
  }
  // mkstemp creates 0600; a deliverable is an ordinary file.
  ::fchmod(fd, 0644);
  return std::unique_ptr<AtomicFile>(new AtomicFile(path, pattern, fd));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_.c_str());
  }
}

absl::Status AtomicFile::Write(absl::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd_, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(absl::StrCat("cannot write ", path_.string(), ": ", Errno()));
    }
    data.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    const std::string error = Errno();
    fd_ = -1;
    ::unlink(temp_.c_str());
    return absl::DataLossError(absl::StrCat("cannot write ", path_.string(), ": ", error));
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    const std::string error = Errno();
    ::unlink(temp_.c_str());
    return absl::DataLossError(absl::StrCat("cannot write ", path_.string(), ": ", error));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> DownloadArtifact(Connection& connection, int64_t job_id,
                                      absl::string_view name, const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / std::string(name);
  v1::GetArtifactRequest request;
  request.set_job_id(job_id);
  request.set_name(std::string(name));
  std::unique_ptr<grpc::ClientContext> context = connection.UnaryContext();
  std::unique_ptr<grpc::ClientReaderInterface<v1::ArtifactChunk>> reader =
      connection.stub().GetArtifact(context.get(), request);

  // Until the first chunk arrives nothing is created, so a NOT_FOUND leaves no trace.
  std::unique_ptr<AtomicFile> file;
  ArtifactCheck check;
  absl::Status failure;
  v1::ArtifactChunk chunk;
  while (failure.ok() && reader->Read(&chunk)) {
    if (file == nullptr) {
      failure = check.Begin(name, chunk);
      if (!failure.ok()) break;
      absl::StatusOr<std::unique_ptr<AtomicFile>> created = AtomicFile::Create(path);
      if (!created.ok()) {
        failure = created.status();
        break;
      }
      file = *std::move(created);
    }
    check.Add(chunk.data());
    failure = file->Write(chunk.data());
  }
  if (!failure.ok()) {
    context->TryCancel();
    (void)reader->Finish();
    return failure;
  }
  const grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::NOT_FOUND && file == nullptr) return false;
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("downloading ", name, " of job ", job_id, ": ",
                                     DescribeRpcError(status, connection.site())));
  }
  if (file == nullptr) {
    return absl::InternalError(absl::StrCat("the server sent nothing for ", name, " of job ",
                                            job_id, " (a server bug: please report it)"));
  }
  if (absl::Status verified = check.Finish(); !verified.ok()) return verified;
  if (absl::Status committed = file->Commit(); !committed.ok()) return committed;
  return true;
}

absl::StatusOr<std::vector<std::filesystem::path>> DownloadDeliverables(
    Connection& connection, int64_t job_id, const std::filesystem::path& dir, std::ostream& out) {
  // Asking for the job first gives a clear answer for an unknown id (otherwise every file
  // would be "not found") and for a job that is still running.
  absl::StatusOr<v1::Job> job = connection.GetJob(job_id);
  if (!job.ok()) return job.status();
  if (job->state() == v1::JOB_STATE_QUEUED || job->state() == v1::JOB_STATE_RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is still ", JobStateName(job->state()),
                     "; its files can be downloaded once it has finished (ablate watch ", job_id,
                     " waits for that)"));
  }

  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create the directory ", dir.string(), ": ", error.message()));
  }
  std::vector<std::filesystem::path> written;
  for (absl::string_view name : kDeliverables) {
    absl::StatusOr<bool> downloaded = DownloadArtifact(connection, job_id, name, dir);
    if (!downloaded.ok()) return downloaded.status();
    if (!*downloaded) {
      if (name == kRequiredDeliverable) {
        return absl::NotFoundError(absl::StrCat("the server has no ", name, " for job ", job_id,
                                                ", so there is nothing to download"));
      }
      continue;  // the server does not produce this file: not an error
    }
    const std::filesystem::path path = dir / std::string(name);
    out << path.string() << std::endl;
    written.push_back(path);
  }
  return written;
}

}  // namespace ablate::client
