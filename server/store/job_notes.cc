#include "server/store/job_notes.h"

#include "absl/strings/str_cat.h"

namespace ablate::store {

absl::Status LoadJobNotes(Connection& conn, JobRecord& job) {
  {
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           conn.Prepare("SELECT note FROM job_notes WHERE job_id = ?1"));
    stmt.Bind(1, job.id);
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) job.note = stmt.Text(0);
  }
  // The primary key (job_id, tag) gives them sorted.
  STORE_ASSIGN_OR_RETURN(Statement stmt,
                         conn.Prepare("SELECT tag FROM job_tags WHERE job_id = ?1 ORDER BY tag"));
  stmt.Bind(1, job.id);
  while (true) {
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    job.tags.push_back(stmt.Text(0));
  }
  return absl::OkStatus();
}

absl::Status WriteJobNotes(Connection& conn, int64_t job_id, const std::string& note,
                           const std::vector<std::string>& tags) {
  {
    STORE_ASSIGN_OR_RETURN(Statement exists, conn.Prepare("SELECT 1 FROM jobs WHERE id = ?1"));
    exists.Bind(1, job_id);
    STORE_ASSIGN_OR_RETURN(bool row, exists.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  }
  {
    STORE_ASSIGN_OR_RETURN(Statement del, conn.Prepare("DELETE FROM job_notes WHERE job_id = ?1"));
    STORE_RETURN_IF_ERROR(del.Bind(1, job_id).Run());
  }
  if (!note.empty()) {
    STORE_ASSIGN_OR_RETURN(Statement put,
                           conn.Prepare("INSERT INTO job_notes (job_id, note) VALUES (?1, ?2)"));
    STORE_RETURN_IF_ERROR(put.Bind(1, job_id).BindText(2, note).Run());
  }
  {
    STORE_ASSIGN_OR_RETURN(Statement del, conn.Prepare("DELETE FROM job_tags WHERE job_id = ?1"));
    STORE_RETURN_IF_ERROR(del.Bind(1, job_id).Run());
  }
  for (const std::string& tag : tags) {
    // OR IGNORE: a tag given twice is one tag.
    STORE_ASSIGN_OR_RETURN(
        Statement put, conn.Prepare("INSERT OR IGNORE INTO job_tags (job_id, tag) VALUES (?1, ?2)"));
    STORE_RETURN_IF_ERROR(put.Bind(1, job_id).BindText(2, tag).Run());
  }
  return absl::OkStatus();
}

}  // namespace ablate::store
