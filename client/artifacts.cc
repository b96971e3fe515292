#include "client/artifacts.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/format.h"

namespace ablate::client {
namespace {

std::string Errno() { return std::strerror(errno); }

// Where a download gathers its files before moving them into place: a hidden folder of the
// output directory (the same file system, so the moves are renames).
constexpr absl::string_view kStagingPrefix = ".ablate-download-";

// The staging folder of this download; removed, with whatever it holds, when dropped.
class Staging {
 public:
  static absl::StatusOr<Staging> Create(const std::filesystem::path& dir) {
    std::string pattern = (dir / absl::StrCat(kStagingPrefix, "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write into ", dir.string(), ": ", Errno()));
    }
    return Staging(pattern);
  }
  Staging(Staging&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  ~Staging() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit Staging(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

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

namespace {

// A download's deadline is on its progress: `timeout` for the first chunk and again for each
// one after it, not for the whole file, so that a large file arrives over a slow network while
// a server that stops sending is still given up on. A thread of its own cancels the call.
class ProgressDeadline {
 public:
  ProgressDeadline(grpc::ClientContext& context, absl::Duration timeout)
      : watcher_([this, &context, timeout] { Watch(context, timeout); }) {}
  ~ProgressDeadline() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    changed_.notify_all();
    watcher_.join();
  }
  ProgressDeadline(const ProgressDeadline&) = delete;
  ProgressDeadline& operator=(const ProgressDeadline&) = delete;

  void Progress() {
    std::lock_guard lock(mutex_);
    last_ = absl::Now();
  }
  // Whether it cancelled the call.
  bool passed() {
    std::lock_guard lock(mutex_);
    return passed_;
  }

 private:
  void Watch(grpc::ClientContext& context, absl::Duration timeout) {
    std::unique_lock lock(mutex_);
    while (!done_) {
      const absl::Duration left = last_ + timeout - absl::Now();
      if (left <= absl::ZeroDuration()) {
        passed_ = true;
        context.TryCancel();
        return;
      }
      changed_.wait_for(lock, absl::ToChronoNanoseconds(left));
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  absl::Time last_ = absl::Now();  // guarded by mutex_, as are the two below
  bool done_ = false;
  bool passed_ = false;
  std::thread watcher_;  // last: started once the rest is set
};

}  // namespace

absl::StatusOr<bool> DownloadArtifact(Connection& connection, int64_t job_id,
                                      absl::string_view name, const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / std::string(name);
  v1::GetArtifactRequest request;
  request.set_job_id(job_id);
  request.set_name(std::string(name));
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_wait_for_ready(false);
  connection.Authorize(*context);
  ProgressDeadline deadline(*context, connection.site().timeout);
  std::unique_ptr<grpc::ClientReaderInterface<v1::ArtifactChunk>> reader =
      connection.stub().GetArtifact(context.get(), request);

  // Until the first chunk arrives nothing is created, so a NOT_FOUND leaves no trace.
  std::unique_ptr<AtomicFile> file;
  ArtifactCheck check;
  absl::Status failure;
  v1::ArtifactChunk chunk;
  while (failure.ok() && reader->Read(&chunk)) {
    deadline.Progress();
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
  grpc::Status status = reader->Finish();
  if (deadline.passed()) status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "");
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

absl::Status CheckJobEnded(Connection& connection, int64_t job_id) {
  absl::StatusOr<v1::Job> job = connection.GetJob(job_id);
  if (!job.ok()) return job.status();
  if (job->state() == v1::JOB_STATE_QUEUED || job->state() == v1::JOB_STATE_RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is still ", JobStateName(job->state()),
                     "; its files can be downloaded once it has finished (ablate watch ", job_id,
                     " waits for that)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::filesystem::path>> DownloadDeliverables(
    Connection& connection, int64_t job_id, const DownloadDir& dir, std::ostream& out) {
  // Staging folders left by a download that was killed: the lock says no other is running.
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path(), error)) {
    if (absl::StartsWith(entry.path().filename().string(), kStagingPrefix)) {
      std::error_code ignored;
      std::filesystem::remove_all(entry.path(), ignored);
    }
  }
  absl::StatusOr<Staging> staging = Staging::Create(dir.path());
  if (!staging.ok()) return staging.status();
  // Side by side, each file on a call of its own over the one connection: a remote client
  // waits about one round trip for the eight, not eight (the futures are read in order, so the
  // error reported is the first deliverable's; returning early waits for the rest, which only
  // write into the staging folder).
  std::vector<std::future<absl::StatusOr<bool>>> downloads;
  for (absl::string_view name : kDeliverables) {
    downloads.push_back(std::async(std::launch::async, [&connection, job_id, name, &staging] {
      return DownloadArtifact(connection, job_id, name, staging->path());
    }));
  }
  std::vector<absl::string_view> fetched;
  for (size_t i = 0; i < kDeliverables.size(); ++i) {
    const absl::string_view name = kDeliverables[i];
    absl::StatusOr<bool> downloaded = downloads[i].get();
    if (!downloaded.ok()) return downloaded.status();
    if (*downloaded) {
      fetched.push_back(name);
    } else if (name == kRequiredDeliverable) {
      return absl::NotFoundError(absl::StrCat("the server has no ", name, " for job ", job_id,
                                              ", so there is nothing to download"));
    }  // else the server does not produce this file: not an error
  }

  std::vector<std::filesystem::path> written;
  for (absl::string_view name : fetched) {
    const std::filesystem::path path = dir.path() / std::string(name);
    std::filesystem::rename(staging->path() / std::string(name), path, error);
    if (error) {
      return absl::DataLossError(absl::StrCat("cannot write ", path.string(), ": ",
                                              error.message()));
    }
    out << path.string() << std::endl;
    written.push_back(path);
  }
  for (absl::string_view name : kDeliverables) {
    if (std::find(fetched.begin(), fetched.end(), name) != fetched.end()) continue;
    const std::filesystem::path stale = dir.path() / std::string(name);
    if (std::filesystem::remove(stale, error)) {
      out << "removed " << stale.string() << ": an earlier job's file, and job " << job_id
          << " has none" << std::endl;
    }
  }
  ::fsync(dir.fd());  // the renames and removals, durable as the files are
  return written;
}

absl::StatusOr<std::unique_ptr<DownloadDir>> DownloadDir::Open(const std::filesystem::path& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("the output directory is an empty path");
  std::error_code error;
  if (std::filesystem::exists(dir, error) && !std::filesystem::is_directory(dir, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir.string(), " exists and is not a directory: give another --out"));
  }
  const bool created = std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create the directory ", dir.string(), ": ", error.message()));
  }
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot open ", dir.string(), ": ", Errno()));
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    const std::string reason = Errno();
    ::close(fd);
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write into ", dir.string(), ": ", reason));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const bool held = errno == EWOULDBLOCK;
    const std::string reason = Errno();
    ::close(fd);
    if (held) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another ablate is writing a job's files into ", dir.string(),
          ": wait for it to finish, or give another --out"));
    }
    return absl::PermissionDeniedError(
        absl::StrCat("cannot lock ", dir.string(), ": ", reason));
  }
  return std::unique_ptr<DownloadDir>(new DownloadDir(dir, fd, created));
}

DownloadDir::~DownloadDir() {
  if (created_) ::rmdir(path_.c_str());  // fails, as it should, unless it is still empty
  ::close(fd_);                          // the last descriptor: the lock goes with it
}

}  // namespace ablate::client
