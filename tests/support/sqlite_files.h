// Database files for tests that need them on disk: a temporary directory removed with
// everything in it, and SQLite's own verdict on a file. Link SQLite::SQLite3.
#ifndef ABLATE_TESTS_SUPPORT_SQLITE_FILES_H_
#define ABLATE_TESTS_SUPPORT_SQLITE_FILES_H_

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
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

  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// PRAGMA integrity_check of a database file, read with a read-only connection of its own:
// "ok" for a sound file, else SQLite's first complaint ("cannot open" when it cannot).
inline std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return "cannot open";
  }
  sqlite3_stmt* stmt = nullptr;
  std::string verdict = "no answer";
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    verdict = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return verdict;
}

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_SQLITE_FILES_H_
