// The data directory: private to the server's user, and used by one server at a time.
#ifndef ABLATE_SERVER_DATA_DIR_H_
#define ABLATE_SERVER_DATA_DIR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ablate {

// The lock file inside the data directory; it holds the pid of the server that has the lock.
inline constexpr char kDataDirLockFile[] = "ablate.lock";

// Creates `dir` (and missing parents) 0700 when it does not exist, whatever the umask; an
// existing directory keeps its mode. An error names the directory.
absl::Status CreateDataDir(const std::string& dir);

// An exclusive lock on a data directory, held while the object lives (and released by the
// kernel however the process ends, kill -9 included).
class DataDirLock {
 public:
  // Takes the lock (a flock on `dir`/ablate.lock, created 0600) and writes this process's pid
  // into the file. FailedPrecondition when another process holds it, in one sentence that
  // names that process's pid; another error when the file cannot be opened.
  static absl::StatusOr<DataDirLock> Acquire(const std::string& dir);

  DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DataDirLock& operator=(DataDirLock&&) = delete;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace ablate

#endif  // ABLATE_SERVER_DATA_DIR_H_
