// Files for tests that need them on disk: a temporary directory removed with everything in it,
// and a whole file read back.
#ifndef ABLATE_TESTS_SUPPORT_TEMP_DIR_H_
#define ABLATE_TESTS_SUPPORT_TEMP_DIR_H_

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace ablate::test_support {

// A fresh directory under the system's temp dir named `prefix`_<pid>_<n>, removed with
// everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ablate_test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            absl::StrCat(prefix, "_", getpid(), "_", counter++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The whole file, as bytes; empty when it cannot be read.
inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_TEMP_DIR_H_
