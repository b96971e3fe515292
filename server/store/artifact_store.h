// The artifact store: a job's files (its deliverables), kept beside the job until it is
// deleted. Implemented by SqliteStore, opened through Store::Open.
#ifndef ABLATE_SERVER_STORE_ARTIFACT_STORE_H_
#define ABLATE_SERVER_STORE_ARTIFACT_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ablate::store {

// One stored file of a job.
struct Artifact {
  std::string name;
  std::string content_type;
  std::string data;
  std::string sha256;  // lowercase hex of data; PutArtifact fills it in when empty
};

// Thread-safe: any thread may call any method.
class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;

  // Stores (or replaces) one of a job's files. An empty artifact.sha256 is computed; a given
  // one must match the data (InvalidArgument otherwise). NotFound names an unknown job.
  virtual absl::Status PutArtifact(int64_t job_id, const Artifact& artifact) = 0;
  // NotFound names the job and the file.
  virtual absl::StatusOr<Artifact> GetArtifact(int64_t job_id, const std::string& name) = 0;
  // The size in bytes of the file's data, without reading the data; NotFound as GetArtifact.
  virtual absl::StatusOr<int64_t> ArtifactSize(int64_t job_id, const std::string& name) = 0;
};

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_ARTIFACT_STORE_H_
