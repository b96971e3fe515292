#include "server/worker/launcher.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace ablate::worker {
std::vector<std::pair<std::string, std::string>> BlasEnvironment() {
  std::vector<std::pair<std::string, std::string>> variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const absl::string_view text(*entry);
    const size_t equals = text.find('=');
    if (equals == absl::string_view::npos || !absl::StartsWith(text, "OPENBLAS_")) continue;
    variables.emplace_back(std::string(text.substr(0, equals)),
                           std::string(text.substr(equals + 1)));
  }
  return variables;
}

SlurmLauncher::SlurmLauncher(std::unique_ptr<slurm::SlurmClient> client, SlurmLaunchOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      server_address_(options_.server_address) {}

void SlurmLauncher::SetServerAddress(const std::string& address) {
  absl::MutexLock lock(&mutex_);
  server_address_ = address;
}

absl::StatusOr<slurm::JobId> SlurmLauncher::Submit(int64_t run_id, const std::string& secret) {
  slurm::SubmitRequest r;
  r.program = options_.worker_program;
  // The run id is no secret: on the command line it shows in ps and squeue which run a job is.
  r.args = {"--run", absl::StrCat(run_id), "--reconnect-for",
            absl::StrCat(options_.reconnect_seconds)};
  r.job_name = absl::StrCat("ablate-run-", run_id);
  r.working_dir = options_.log_dir;
  r.stdout_path = absl::StrCat(options_.log_dir, "/ablate-run-", run_id, "-%j.out");
  r.stderr_path = absl::StrCat(options_.log_dir, "/ablate-run-", run_id, "-%j.err");
  r.partition = options_.partition;
  r.account = options_.account;
  r.time_limit = options_.time_limit;
  r.extra_args = options_.extra_args;
  {
    absl::MutexLock lock(&mutex_);
    r.environment = {{kEnvServer, server_address_}, {kEnvSecret, secret}};
  }
  r.environment.insert(r.environment.end(), options_.environment.begin(),
                       options_.environment.end());
  if (!options_.server_ca_pem.empty()) {
    r.environment.push_back({kEnvServerCa, options_.server_ca_pem});
  }
  return client_->Submit(r);
}

absl::StatusOr<absl::flat_hash_map<slurm::JobId, slurm::JobStatus>> SlurmLauncher::Poll(
    absl::Span<const slurm::JobId> ids) {
  return client_->Poll(ids);
}

absl::StatusOr<slurm::JobOutcome> SlurmLauncher::Outcome(slurm::JobId id) {
  return client_->Outcome(id);
}

absl::Status SlurmLauncher::Cancel(slurm::JobId id) { return client_->Cancel(id); }

}  // namespace ablate::worker
