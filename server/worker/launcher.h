// Where the Slurm executor starts a run's worker: the seam between the executor's bookkeeping
// and Slurm itself, so that tests and benchmarks can start workers some other way.
#ifndef ABLATE_SERVER_WORKER_LAUNCHER_H_
#define ABLATE_SERVER_WORKER_LAUNCHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/slurm/job_state.h"
#include "server/slurm/slurm_client.h"
#include "server/worker/worker_client.h"

namespace ablate::worker {

// Thread-safe.
class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts a worker for run `run_id`, handing it `secret` without putting it on a command line.
  // Returns the id of the job that runs it.
  virtual absl::StatusOr<slurm::JobId> Submit(int64_t run_id, const std::string& secret) = 0;
  // As SlurmClient::Poll: the states of the jobs Slurm still knows.
  virtual absl::StatusOr<absl::flat_hash_map<slurm::JobId, slurm::JobStatus>> Poll(
      absl::Span<const slurm::JobId> ids) = 0;
  // As SlurmClient::Outcome.
  virtual absl::StatusOr<slurm::JobOutcome> Outcome(slurm::JobId id) = 0;
  // As SlurmClient::Cancel.
  virtual absl::Status Cancel(slurm::JobId id) = 0;
  // The worker program, as the sentences about a job name it.
  virtual std::string Program() const = 0;
};

// How each run's worker is submitted (the server's --slurm-* flags).
struct SlurmLaunchOptions {
  std::string worker_program;  // absolute path of ablate-worker on the nodes
  std::string server_address;  // HOST:PORT that the workers dial
  std::string server_ca_pem;   // the server's certificate (workers trust it); empty: plaintext
  std::string partition;       // empty: the cluster's defaults
  std::string account;
  std::string time_limit;
  std::vector<std::string> extra_args;  // more sbatch options, each one argument
  // --chdir of the jobs and where their stdout and stderr go (ablate-run-RUN-JOB.out/.err):
  // an absolute directory that exists on the nodes.
  std::string log_dir;
  int reconnect_seconds = 300;  // ablate-worker --reconnect-for
  // More variables of the jobs' environment (see BlasEnvironment).
  std::vector<std::pair<std::string, std::string>> environment;
};

// The variables of this process's environment that choose the BLAS's kernels (OPENBLAS_*, e.g.
// OPENBLAS_CORETYPE): part of what makes two trainings bit-identical (core/fingerprint.h), so
// the server hands them to its workers, whose Slurm jobs do not inherit its environment.
std::vector<std::pair<std::string, std::string>> BlasEnvironment();

// Submits `ablate-worker --run ID --reconnect-for S` with sbatch through its SlurmClient, the
// job's environment holding the server's address, the secret and the certificate.
class SlurmLauncher final : public Launcher {
 public:
  SlurmLauncher(std::unique_ptr<slurm::SlurmClient> client, SlurmLaunchOptions options);
  // The address the workers dial, once the server knows its port (before the first Submit).
  void SetServerAddress(const std::string& address) ABSL_LOCKS_EXCLUDED(mutex_);

  absl::StatusOr<slurm::JobId> Submit(int64_t run_id, const std::string& secret) override
      ABSL_LOCKS_EXCLUDED(mutex_);
  absl::StatusOr<absl::flat_hash_map<slurm::JobId, slurm::JobStatus>> Poll(
      absl::Span<const slurm::JobId> ids) override;
  absl::StatusOr<slurm::JobOutcome> Outcome(slurm::JobId id) override;
  absl::Status Cancel(slurm::JobId id) override;
  std::string Program() const override { return options_.worker_program; }

 private:
  const std::unique_ptr<slurm::SlurmClient> client_;
  const SlurmLaunchOptions options_;  // its server_address is the one given at construction
  absl::Mutex mutex_;
  std::string server_address_ ABSL_GUARDED_BY(mutex_);  // the one workers dial
};

}  // namespace ablate::worker

#endif  // ABLATE_SERVER_WORKER_LAUNCHER_H_
