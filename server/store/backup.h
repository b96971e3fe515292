// Online backup of a store's database file, for operators (`ablate-server backup`).
#ifndef ABLATE_SERVER_STORE_BACKUP_H_
#define ABLATE_SERVER_STORE_BACKUP_H_

#include <string>

#include "absl/status/status.h"

namespace ablate::store {

// Copies the database at `from` (which a running server may be writing) to `to` with SQLite's
// online backup API: the copy is one consistent snapshot, holding every transaction committed
// when the copy began, and the server is not held up while it is made. The copy is written
// beside `to` under a temporary name, checked with PRAGMA integrity_check, switched from WAL to
// a self-contained rollback-journal file, and only then renamed to `to` (replacing a file there),
// so `to` is never a partial copy. Errors name the file at fault: NotFound when `from` does not
// exist, DataLoss when the copy fails its integrity check.
absl::Status BackupDatabase(const std::string& from, const std::string& to);

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_BACKUP_H_
