// SQLite's own verdict on a database file, for tests that keep one on disk (in a TempDir,
// which this header brings along). Link SQLite::SQLite3.
#ifndef ABLATE_TESTS_SUPPORT_SQLITE_FILES_H_
#define ABLATE_TESTS_SUPPORT_SQLITE_FILES_H_

#include <sqlite3.h>

#include <string>

#include "tests/support/temp_dir.h"

namespace ablate::test_support {

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
