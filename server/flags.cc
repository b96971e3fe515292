#include "server/flags.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

namespace ablate {
namespace {

// The directory of this program, where ablate-worker is installed beside ablate-server.
std::string ProgramDirectory() {
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? "" : self.parent_path().string();
}

}  // namespace

int FinishingThreads(const ServerFlags& options) {
  if (options.finishing_threads > 0) return options.finishing_threads;
  if (options.executor != "slurm") return 1;
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
}

void AddServerFlags(CLI::App& app, ServerFlags& options) {
  app.add_option("--listen", options.listen, "gRPC address, HOST:PORT (port 0 picks a free one)")
      ->capture_default_str();
  app.add_option("--http", options.http,
                 "HTTP address of the web page and the JSON/SSE API, HOST:PORT (port 0 picks a "
                 "free one; 127.0.0.1:8080 is the usual); off unless given");
  app.add_option("--web-dir", options.web_dir, "Directory of the web page's files")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "Directory of the SQLite database")
      ->capture_default_str();
  app.add_option("--workers", options.workers,
                 "Runs trained at once, one thread each (1-256), with --executor local")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--finishing-threads", options.finishing_threads,
                 "Jobs whose deliverables (figures, report, manifest, zip) are built at once, one "
                 "thread each (0-64; 0: 1 with --executor local, whose cores train, and the "
                 "cores, at most 4, with --executor slurm)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--max-run-backlog", options.max_run_backlog,
                 "Steps and validations of one run waiting to be written to the database, at "
                 "most (16-1000000); a run that trains faster than the database takes its steps "
                 "waits there (about 400 bytes each)")
      ->check(CLI::Range(16, 1000000))
      ->capture_default_str();
  app.add_option("--max-active-jobs-per-user", options.quotas.max_active_jobs_per_user,
                 "Jobs one user may have queued or running at once; more are refused (0: no "
                 "limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-job-compute", options.quotas.max_job_compute,
                 "Largest job accepted, in multiply-adds of its forward passes: runs x (steps x "
                 "batch + (steps / eval_every + 1) x val_size) x the sum over layers of n_in x "
                 "n_out (lab 1 is 1.5e11; 0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-job-memory", options.quotas.max_job_memory_mib,
                 "Most data one job may hold, in MiB: runs x (train_size + val_size) x input_dim "
                 "x 4 bytes (lab 1 is 3.5 MiB; 0: no limit)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24))
      ->capture_default_str();
  app.add_option("--max-download-memory", options.quotas.max_download_memory_mib,
                 "Most bytes of files held for downloads in flight at once, in MiB: a file many "
                 "clients download at once is held once; a download that would pass this is "
                 "refused with UNAVAILABLE / 503 and Retry-After (one file larger than it is "
                 "still sent while nothing else is)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24))
      ->capture_default_str();
  app.add_option("--max-streams", options.quotas.streams.max_streams,
                 "Live streams (gRPC WatchJob and browsers' event streams together) served at "
                 "once; more are refused with RESOURCE_EXHAUSTED / 429 (0: no limit)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_option("--max-streams-per-user", options.quotas.streams.max_streams_per_user,
                 "Live streams one user may have open at once, gRPC and HTTP together; more are "
                 "refused with RESOURCE_EXHAUSTED / 429 (0: no limit; none without users)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_option("--stream-recheck-interval", options.stream_recheck_s,
                 "Seconds between checks of every open stream's token: a revoked token's "
                 "streams end within this")
      ->check(CLI::Range(0.05, 60.0))
      ->capture_default_str();
  app.add_option("--fan-out-interval", options.fan_out_interval_ms,
                 "Milliseconds between one watched job's rounds of live updates: each watcher "
                 "gets at most one message a round, so a busy job costs a watcher at most "
                 "1000 / this messages a second, and a step waits at most this for its round")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--tls-cert", options.tls_cert,
                 "Serve gRPC and HTTP over TLS with this PEM certificate (chain); needs --tls-key")
      ->type_name("FILE");
  app.add_option("--tls-key", options.tls_key,
                 "The PEM private key of --tls-cert; needs --tls-cert")
      ->type_name("FILE");
  app.add_flag("--allow-unauthenticated", options.allow_unauthenticated,
               "Listen on a non-loopback address although the server has no users, so that "
               "anyone who can reach it can do anything (see `ablate-server admin --help`)");
  app.add_option("--max-store-size", options.max_store_mib,
                 "Most the database may grow to, in MiB (0: no limit); beyond it the server "
                 "behaves as on a full disk: running jobs fail, new ones are refused, reads go on")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24))
      ->capture_default_str();
  app.add_option("--checkpoint-every-seconds", options.checkpoint_every_s,
                 "Seconds between two checkpoints of a training run (its weights, momentum, data "
                 "order and RNG state, in <data-dir>/checkpoints), from which it continues after "
                 "a crash instead of from step 0 (0: no checkpoints)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--log-level", options.log_level,
                 "Least severe log lines written: debug (also every HTTP request line), info, "
                 "warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  // The HTTP front door's limits: every request is bounded (README, "Limits").
  http::GatewayOptions& web = options.http_options;
  app.add_option("--http-threads", web.io_threads,
                 "I/O threads of the HTTP server (they parse and write; the API's work runs on "
                 "the service's threads)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--http-max-streams", web.max_streams,
                 "Live event streams (browsers watching a job) served at once; more get 503")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--http-allowed-hosts", web.allowed_hosts,
                 "While the server has no users, the API answers only requests addressed to an IP "
                 "address or to localhost, so that another site's page cannot use it by DNS "
                 "rebinding; these host names (comma-separated, no port) are answered too")
      ->delimiter(',')
      ->type_name("NAME,...")
      ->transform([](std::string host) {
        if (host.empty() || host.find_first_of(":/[] ") != std::string::npos) {
          throw CLI::ValidationError("takes host names without a port or scheme, such as "
                                     "ablate.example.edu (got \"" + host + "\")");
        }
        std::transform(host.begin(), host.end(), host.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (host.back() == '.') host.pop_back();
        return host;
      });
  app.add_option("--http-max-connections", web.limits.max_connections,
                 "HTTP connections open at once; more get 503")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--http-max-connections-per-address", web.limits.max_connections_per_address,
                 "HTTP connections one client address may hold open; more get 429 (raise it when "
                 "a class reaches the server through one NAT address or a proxy)")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--http-max-body-bytes", web.limits.max_body_bytes,
                 "Largest HTTP request body, enforced while it arrives (chunked too), before "
                 "authentication; larger gets 413")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--http-max-header-bytes", web.limits.max_header_bytes,
                 "Largest HTTP request line and headers, and a chunked body's trailer; larger "
                 "gets 431 (at most 65535: Boost.Beast keeps one field in at most 64 KiB)")
      ->check(CLI::Range(size_t{1024}, size_t{65535}))
      ->capture_default_str();
  app.add_option("--http-max-json-depth", web.max_json_depth,
                 "Deepest nesting of JSON arrays and objects in a request body; deeper gets 400")
      ->check(CLI::Range(4, 1000))
      ->capture_default_str();
  app.add_option("--http-header-timeout", options.http_header_timeout_s,
                 "Seconds a client has to send a request's headers, from connecting (or from "
                 "the previous response) to the blank line; then 408 and the connection closes")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--http-body-timeout", options.http_body_timeout_s,
                 "Seconds a client has to send a request's body once its headers are in; "
                 "then 408")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--http-write-timeout", options.http_write_timeout_s,
                 "Seconds a client has to take each 256 KiB of a response (or one event of a "
                 "stream) before its connection is dropped; over gRPC, each chunk of a file "
                 "download before the download is cancelled")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--grpc-handshake-timeout", options.grpc_handshake_timeout_s,
                 "Seconds a gRPC connection has to complete its handshake (TLS, then HTTP/2's "
                 "preface and settings) from connecting; then it is closed")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--grpc-idle-timeout", options.grpc_idle_timeout_s,
                 "Seconds a gRPC connection may stay without a call before the server closes it "
                 "(GOAWAY); a client's next call reconnects by itself")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.add_option("--grpc-max-streams-per-connection", options.grpc_max_streams_per_connection,
                 "Calls one gRPC connection may have open at once (HTTP/2's "
                 "MAX_CONCURRENT_STREAMS); a client's further calls wait for one to end")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  // Runs on a Slurm cluster (README, "Running on a Slurm cluster").
  app.add_option("--executor", options.executor,
                 "Where runs train: local (this server's --workers threads) or slurm (each run "
                 "an ablate-worker job that Slurm starts and that streams back to this server)")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  app.add_option("--slurm-partition", options.slurm.partition,
                 "sbatch --partition of the worker jobs (default: the cluster's)");
  app.add_option("--slurm-account", options.slurm.account,
                 "sbatch --account of the worker jobs (default: the cluster's)");
  app.add_option("--slurm-time", options.slurm.time_limit,
                 "sbatch --time of each worker job, e.g. 30 or 1:00:00 (default: the partition's)");
  app.add_option("--slurm-extra-args", options.slurm_extra_args,
                 "More sbatch options for the worker jobs, separated by spaces, each with its "
                 "value joined (e.g. \"--mem=2G --qos=class\"); options the server sets itself are "
                 "refused");
  options.slurm.worker_program = ProgramDirectory() + "/ablate-worker";
  app.add_option("--slurm-worker", options.slurm.worker_program,
                 "Absolute path of ablate-worker on the cluster's nodes")
      ->capture_default_str();
  app.add_option("--slurm-poll-seconds", options.slurm_poll_seconds,
                 "Seconds between two squeue polls of every worker job (liveness)")
      ->check(CLI::Range(0.2, 600.0))
      ->capture_default_str();
  app.add_option("--slurm-server-address", options.slurm_server_address,
                 "HOST:PORT by which the worker jobs reach this server's gRPC port (default: "
                 "--listen's, with this machine's name for a wildcard host); with TLS, a name "
                 "that the certificate holds");
  app.add_option("--slurm-server-ca", options.slurm_server_ca,
                 "PEM certificate(s) the workers trust for the server (default: --tls-cert)")
      ->type_name("FILE");
  app.add_option("--slurm-log-dir", options.slurm.log_dir,
                 "Absolute directory, existing on the nodes, for the worker jobs' working "
                 "directory and output (default: DATA-DIR/slurm, for a shared file system)");
  app.add_option("--slurm-max-jobs", options.slurm_max_jobs,
                 "Runs handed to Slurm at once; more wait in this server's queue (round robin by "
                 "owner)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--slurm-reconnect-seconds", options.slurm.reconnect_seconds,
                 "How long a worker keeps trying to reach an unreachable server before it exits")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.footer("Classes, users and tokens: ablate-server admin --help");
}

}  // namespace ablate
