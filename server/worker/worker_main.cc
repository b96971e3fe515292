// ablate-worker: trains one run for ablate-server on a cluster node. Slurm starts it (the
// server's Slurm executor submits it); it connects back to the server, trains the run and
// streams its progress (server/worker/worker_client.h).
//
//   ablate-worker --run ID [--reconnect-for SECONDS]
//
// The server's address, the run's secret and (for TLS) the server's certificate come in the
// environment (ABLATE_SERVER, ABLATE_WORKER_SECRET, ABLATE_SERVER_CA), never on the command
// line; the secret is removed from the environment once read. SIGTERM or SIGINT (scancel) stops
// the run at its next step, and the worker reports it cancelled.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "server/worker/worker_client.h"
#include "spdlog/spdlog.h"

namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ablate::worker;
  CLI::App app{"ablate-worker: trains one run for ablate-server (started by Slurm)"};
  WorkerOptions options;
  int reconnect_seconds = 300;
  app.add_option("--run", options.run_id, "The run's id")->required()->check(CLI::PositiveNumber);
  app.add_option("--reconnect-for", reconnect_seconds,
                 "Give up after this many seconds without reaching the server")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.footer("Environment: ABLATE_SERVER (HOST:PORT), ABLATE_WORKER_SECRET, and ABLATE_SERVER_CA "
             "(the server's PEM certificate, for TLS)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [worker] [%l] %v");

  options.server = Env(kEnvServer);
  options.secret = Env(kEnvSecret);
  options.server_ca_pem = Env(kEnvServerCa);
  // The secret stays in this process's memory only: children and /proc/PID/environ readers
  // (the job's user and root) no longer find it there.
  unsetenv(kEnvSecret);
  if (options.server.empty() || options.secret.empty()) {
    spdlog::error("{} and {} must be set (the server sets them when it submits the job)",
                  kEnvServer, kEnvSecret);
    return 2;
  }
  options.reconnect_for = absl::Seconds(reconnect_seconds);
  int64_t job_id = 0;
  if (absl::SimpleAtoi(Env("SLURM_JOB_ID"), &job_id)) options.slurm_job_id = job_id;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  options.host = host;

  // SIGTERM and SIGINT stop the run; every thread inherits the mask, and one waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::stop_source stop;
  options.stop = stop.get_token();
  std::thread([signals, &stop]() mutable {
    int signal = 0;
    sigwait(&signals, &signal);
    spdlog::info("signal {} received: stopping the run", signal);
    stop.request_stop();
  }).detach();

  spdlog::info("run {}: connecting to {}{}", options.run_id, options.server,
               options.server_ca_pem.empty() ? "" : " over TLS");
  std::string error;
  const int code = RunWorker(options, &error);
  if (code == kExitDelivered) {
    spdlog::info("run {}: the server has the run's end", options.run_id);
  } else {
    spdlog::error("run {}: {}", options.run_id, error);
  }
  return code;
}
