// ablate-server's command line: every flag of the server, its default and its allowed range, in
// one place apart from the wiring in main.cc, so that the README's flag list and `--help` have one
// source. Parsing is CLI11's; what a flag means is said in its help text.
#ifndef ABLATE_SERVER_FLAGS_H_
#define ABLATE_SERVER_FLAGS_H_

#include <cstdint>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "server/http/gateway.h"
#include "server/jobs/event_writer.h"
#include "server/service/service.h"
#include "server/worker/launcher.h"

namespace ablate {

// What the flags set, with their defaults. Times in seconds are converted by main.
struct ServerFlags {
  std::string listen = "127.0.0.1:50051";
  std::string http;  // empty: no HTTP front door
  std::string web_dir = http::DefaultWebDir();
  std::string data_dir = "./ablate-data";
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Jobs whose deliverables are built at once; 0: FinishingThreads() decides.
  int finishing_threads = 0;
  service::ServiceOptions quotas;
  std::string tls_cert;  // PEM files; both empty: plaintext
  std::string tls_key;
  bool allow_unauthenticated = false;
  int64_t max_store_mib = 0;  // 0: no cap
  int max_run_backlog = jobs::EventWriter::kDefaultRunBacklog;
  double checkpoint_every_s = 5;  // 0: no checkpoints
  std::string log_level = "info";
  http::GatewayOptions http_options;
  double http_header_timeout_s = 10;
  double http_body_timeout_s = 30;
  double http_write_timeout_s = 30;
  double stream_recheck_s = 30;
  // The gRPC port's connections (README, "gRPC limits").
  double grpc_handshake_timeout_s = 10;
  double grpc_idle_timeout_s = 120;
  int grpc_max_streams_per_connection = 100;
  int fan_out_interval_ms =
      static_cast<int>(service::LiveOptions{}.fan_out_interval.count());
  // Where runs train: "local" (this server's threads) or "slurm" (ablate-worker jobs).
  std::string executor = "local";
  worker::SlurmLaunchOptions slurm;
  std::string slurm_extra_args;    // split on whitespace
  std::string slurm_server_address;  // empty: from --listen
  std::string slurm_server_ca;       // file; empty: --tls-cert
  double slurm_poll_seconds = 5;
  int slurm_max_jobs = 256;
};

// Adds every flag of the server to `app`, each writing into `flags` (which must outlive the
// parse). The subcommands (admin, backup) are main's.
void AddServerFlags(CLI::App& app, ServerFlags& flags);

// --finishing-threads, or when it is 0: one where the server's cores train the runs (a second
// one there slowed training and cost more CPU per job end than it saved in waiting:
// tests/load/run-lab-watch.sh on 2 cores), and the cores, at most 4, where Slurm trains them
// and the server's cores do little else. Each thread holds its job's trajectories and figures
// while it builds them.
int FinishingThreads(const ServerFlags& flags);

}  // namespace ablate

#endif  // ABLATE_SERVER_FLAGS_H_
