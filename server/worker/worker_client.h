// The worker's side of ablate.worker.v1: connects to the server, proves its run's secret,
// receives the run, trains it with core::TrainRun on a thread of its own, and streams every
// step, evaluation, checkpoint and the outcome. ablate-worker (worker_main.cc) is this plus
// flags and signals; tests run it in-process.
#ifndef ABLATE_SERVER_WORKER_WORKER_CLIENT_H_
#define ABLATE_SERVER_WORKER_WORKER_CLIENT_H_

#include <cstdint>
#include <stop_token>
#include <string>

#include "absl/time/time.h"

namespace ablate::worker {

// Names of the worker's environment (set by the server's launcher, read by ablate-worker).
inline constexpr char kEnvServer[] = "ABLATE_SERVER";
inline constexpr char kEnvSecret[] = "ABLATE_WORKER_SECRET";
inline constexpr char kEnvServerCa[] = "ABLATE_SERVER_CA";

struct WorkerOptions {
  std::string server;  // HOST:PORT
  std::string server_ca_pem;  // TLS, trusting this certificate, when not empty
  int64_t run_id = 0;
  std::string secret;
  int64_t slurm_job_id = 0;
  std::string host;  // this node's name, for the server's log
  // The worker gives up (exit kExitUnreachable) when it has not been able to talk to the
  // server for this long: the server is gone, or no longer schedules the run.
  absl::Duration reconnect_for = absl::Minutes(5);
  // Longest pause between sends while training: steps in between go in one message.
  absl::Duration batch_interval = absl::Milliseconds(20);
  // Stops the training (SIGTERM from scancel): the run then ends cancelled and says so.
  std::stop_token stop;
};

// Exit codes of RunWorker (and of ablate-worker).
inline constexpr int kExitDelivered = 0;    // the server has the run's outcome (or failure)
inline constexpr int kExitUnreachable = 3;  // gave up reaching the server (reconnect_for)
inline constexpr int kExitRefused = 4;      // the server refused the secret or the run ended
inline constexpr int kExitProtocol = 5;     // the server sent something unexpected

// Runs the whole protocol; returns one of the exit codes above, with a sentence in *error for
// all but kExitDelivered.
int RunWorker(const WorkerOptions& options, std::string* error);

}  // namespace ablate::worker

#endif  // ABLATE_SERVER_WORKER_WORKER_CLIENT_H_
