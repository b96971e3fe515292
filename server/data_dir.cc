#include "server/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ablate {

absl::Status CreateDataDir(const std::string& dir) {
  std::error_code error;
  if (std::filesystem::is_directory(dir, error)) return absl::OkStatus();
  const std::filesystem::path path(dir);
  if (path.has_parent_path() && !path.parent_path().empty()) {
    std::filesystem::create_directories(path.parent_path(), error);
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create the data directory ", dir, ": ", error.message()));
    }
  }
  // The directory holds the database (every user's jobs and hashed tokens) and its backups:
  // the server's user only. mkdir's mode is masked by the umask, chmod's is not.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the data directory ", dir, ": ", std::strerror(errno)));
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot make the data directory ", dir, " private: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<DataDirLock> DataDirLock::Acquire(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kDataDirLockFile).string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the lock file ", path, ": ", std::strerror(errno)));
  }
  DataDirLock lock(fd);
  // flock, not fcntl: an fcntl lock is dropped when any descriptor of the file is closed by
  // the process, and the lock must not hinge on that.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int flock_errno = errno;
    if (flock_errno != EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot lock ", path, ": ", std::strerror(flock_errno)));
    }
    char buffer[32] = {};
    const ssize_t n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
    std::string pid(buffer, n > 0 ? n : 0);
    absl::StripAsciiWhitespace(&pid);
    return absl::FailedPreconditionError(absl::StrCat(
        "the data directory ", dir, " is in use by another ablate-server (",
        pid.empty() ? "its pid is not written yet" : absl::StrCat("pid ", pid),
        "); stop it first, or give this one another --data-dir"));
  }
  const std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write the pid into ", path, ": ", std::strerror(errno)));
  }
  return lock;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace ablate
