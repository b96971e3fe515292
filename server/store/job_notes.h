// A job's note and tags in the database (tables job_notes and job_tags, schema version 6).
// Internal to the store: SqliteStore reads them with every job and writes them for SetJobNotes.
#ifndef ABLATE_SERVER_STORE_JOB_NOTES_H_
#define ABLATE_SERVER_STORE_JOB_NOTES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/store/records.h"
#include "server/store/sqlite_conn.h"

namespace ablate::store {

// Fills job.note and job.tags (sorted) for job.id; leaves them empty when it has none.
absl::Status LoadJobNotes(Connection& conn, JobRecord& job);

// Replaces the job's note ("" removes it) and tags, inside the caller's write transaction.
// NotFound names the job.
absl::Status WriteJobNotes(Connection& conn, int64_t job_id, const std::string& note,
                           const std::vector<std::string>& tags);

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_JOB_NOTES_H_
