#include "server/store/backup.h"

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "server/store/sqlite_conn.h"

namespace ablate::store {

namespace {

constexpr int kBusyTimeoutMs = 5000;

struct BackupDeleter {
  void operator()(sqlite3_backup* backup) const { sqlite3_backup_finish(backup); }
};

}  // namespace

absl::Status BackupDatabase(const std::string& from, const std::string& to) {
  std::error_code error;
  if (!std::filesystem::exists(from, error)) {
    return absl::NotFoundError(absl::StrCat("cannot back up ", from, ": the file does not exist"));
  }
  // Read-only: the backup never changes the source (Connection::Open reads a live WAL database
  // through its -wal and -shm files, as the server's own readers do).
  STORE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> source,
                         Connection::Open(from, kBusyTimeoutMs, /*read_only=*/true));
  const std::string temp = absl::StrCat(to, ".partial-", getpid());
  std::filesystem::remove(temp, error);
  absl::Status status = [&]() -> absl::Status {
    STORE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> copy,
                           Connection::Open(temp, kBusyTimeoutMs));
    {
      std::unique_ptr<sqlite3_backup, BackupDeleter> backup(
          sqlite3_backup_init(copy->db(), "main", source->db(), "main"));
      if (backup == nullptr) {
        return SqliteError(copy->db(), sqlite3_errcode(copy->db()),
                           absl::StrCat("cannot start the backup of ", from));
      }
      // All pages in one step, inside one read transaction of the source. In WAL mode a reader
      // never blocks the writer, so the server trains and commits on while the copy is made.
      // Copying in slices of pages with pauses (the API's other way) would not help here and
      // would rarely finish: each slice is a new read, and a write to the source between
      // slices, which a training server makes every few milliseconds, restarts the copy.
      int rc = sqlite3_backup_step(backup.get(), -1);
      if (rc != SQLITE_DONE) {
        return SqliteError(copy->db(), rc, absl::StrCat("backing up ", from));
      }
    }
    // The copy inherits the source's WAL mode; a backup is easier to move as one file.
    STORE_RETURN_IF_ERROR(copy->Exec("PRAGMA journal_mode = DELETE"));
    STORE_ASSIGN_OR_RETURN(Statement check, copy->Prepare("PRAGMA integrity_check"));
    STORE_ASSIGN_OR_RETURN(bool row, check.Step());
    const std::string verdict = row ? check.Text(0) : "no answer";
    if (verdict != "ok") {
      return absl::DataLossError(
          absl::StrCat("the backup of ", from, " failed its integrity check: ", verdict));
    }
    return absl::OkStatus();
  }();
  if (status.ok()) {
    std::filesystem::rename(temp, to, error);
    if (error) {
      status = absl::InternalError(
          absl::StrCat("cannot move the backup into place at ", to, ": ", error.message()));
    }
  }
  if (!status.ok()) std::filesystem::remove(temp, error);
  return status;
}

}  // namespace ablate::store
