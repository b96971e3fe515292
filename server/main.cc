// ablate-server: Ablate's experiment server. Owns the training core and the SQLite store,
// and serves the ablate.v1.Ablation API over gRPC and, with --http, the web page and the same API
// as JSON and Server-Sent Events over HTTP.
#include <cerrno>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "openssl/bio.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "openssl/x509.h"
#include "server/admin.h"
#include "server/data_dir.h"
#include "server/artifacts/artifacts.h"
#include "server/auth/loopback.h"
#include "server/jobs/checkpoint_files.h"
#include "server/jobs/cursor_hub.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/local_executor.h"
#include "server/http/gateway.h"
#include "server/metrics/metrics.h"
#include "server/rpc/grpc_service.h"
#include "server/service/service.h"
#include "server/service/thread_pool.h"
#include "server/store/backup.h"
#include "server/store/store.h"
#include "server/worker/launcher.h"
#include "server/worker/slurm_executor.h"
#include "spdlog/spdlog.h"

namespace {

constexpr char kDatabaseFile[] = "ablate.db";
constexpr char kCheckpointDir[] = "checkpoints";
// Largest request accepted: a JobSpec is a few hundred bytes; anything near this is hostile.
constexpr int kMaxReceiveBytes = 1 << 20;
// Threads for unary calls and watch reads: store work, never training.
constexpr int kServiceThreads = 4;
// Threads for the HTTP API's calls into the service: a pool of their own, so that a class's
// worth of event streams, each reading the store on every commit, cannot queue the page's
// requests behind their reads.
constexpr int kHttpServiceThreads = 4;
constexpr auto kShutdownGrace = std::chrono::seconds(2);
// SIGTERM stops the server within 10 s whatever is in flight (a huge training step, a slow
// disk): past this the process exits at once, as after kill -9, which the store survives
// (committed events stay, running jobs resume at the next start).
constexpr auto kStopDeadline = std::chrono::seconds(9);

struct Options {
  std::string listen = "127.0.0.1:50051";
  std::string http;  // empty: no HTTP front door
  std::string web_dir = ablate::http::DefaultWebDir();
  std::string data_dir = "./ablate-data";
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ablate::service::ServiceOptions quotas;
  std::string tls_cert;  // PEM files; both empty: plaintext
  std::string tls_key;
  bool allow_unauthenticated = false;
  int64_t max_store_mib = 0;  // 0: no cap
  double checkpoint_every_s = 5;  // 0: no checkpoints
  std::string log_level = "info";
  ablate::http::GatewayOptions http_options;
  double http_header_timeout_s = 10;
  double http_body_timeout_s = 30;
  double http_write_timeout_s = 30;
  double stream_recheck_s = 30;
  int fan_out_interval_ms =
      static_cast<int>(ablate::service::LiveOptions{}.fan_out_interval.count());
  // Where runs train: "local" (this server's threads) or "slurm" (ablate-worker jobs).
  std::string executor = "local";
  ablate::worker::SlurmLaunchOptions slurm;
  std::string slurm_extra_args;    // split on whitespace
  std::string slurm_server_address;  // empty: from --listen
  std::string slurm_server_ca;       // file; empty: --tls-cert
  double slurm_poll_seconds = 5;
  int slurm_max_jobs = 256;
};

// The directory of this program, where ablate-worker is installed beside ablate-server.
std::string ProgramDirectory() {
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? "" : self.parent_path().string();
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Lets the process hold as many sockets as the system allows it: an idle event stream is one
// file descriptor, and the soft limit is often 1024.
void RaiseFileLimit(int wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < static_cast<rlim_t>(wanted) + 256) {
    spdlog::warn("the process may open {} files, fewer than --http-max-connections ({}) needs; "
                 "raise it (ulimit -n, or LimitNOFILE= in the service unit)",
                 limit.rlim_cur, wanted);
  }
}

int Fail(const std::string& message) {
  spdlog::error("{}", message);
  return 1;
}

// The whole of a small file (a PEM certificate or key), or an error naming the flag and path.
absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path,
                                    const std::string& marker) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", flag, " ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find(marker) == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, " is not a PEM file holding a \"", marker, "\" block"));
  }
  return text.str();
}

// Checks what gRPC would otherwise refuse later with a message naming neither file: that the
// certificate and key parse, that the key is the certificate's, and that the certificate is
// valid today.
absl::Status CheckTlsPair(const std::string& cert_pem, const std::string& cert_path,
                          const std::string& key_pem, const std::string& key_path) {
  using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
  Bio cert_bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), &BIO_free);
  Bio key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert ", cert_path, " does not hold a readable PEM certificate"));
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls-key ", key_path, " does not hold a readable, unencrypted PEM private key"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--tls-key ", key_path,
                                                   " is not the private key of --tls-cert ",
                                                   cert_path));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert ", cert_path, " has expired; make or get a new certificate"));
  }
  return absl::OkStatus();
}

// "HOST:PORT" (HOST may be a bracketed IPv6 address) into its parts; false when malformed.
bool SplitHostPort(const std::string& address, std::string& host, int& port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return false;
  }
  host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ablate;
  // `ablate-server admin ...` manages classes and tokens on the database, then exits.
  if (argc > 1 && std::string(argv[1]) == "admin") return admin::Main(argc - 1, argv + 1);
  Options options;
  CLI::App app{"ablate-server: Ablate's experiment server (gRPC API, SQLite store, trainer)"};
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
                 "Largest HTTP request line and headers; larger gets 431")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 20))
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
                 "Seconds a client has to take one response (or one event of a stream) before "
                 "its connection is dropped")
      ->check(CLI::Range(0.1, 3600.0))
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

  // `ablate-server backup`: an online copy of the database, for operators.
  std::string backup_out;
  CLI::App* backup = app.add_subcommand(
      "backup",
      "Copy the database to OUT as one consistent snapshot, checked with PRAGMA integrity_check; "
      "safe while a server is running on the data directory");
  backup->add_option("--data-dir", options.data_dir, "Directory of the SQLite database")
      ->capture_default_str();
  backup->add_option("OUT", backup_out, "The copy's file (replaced atomically if it exists)")
      ->required();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(options.log_level));
  if (*backup) {
    const std::string from = (std::filesystem::path(options.data_dir) / kDatabaseFile).string();
    if (absl::Status s = store::BackupDatabase(from, backup_out); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    spdlog::info("backed up {} to {} (integrity_check ok)", from, backup_out);
    return 0;
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return Fail("--tls-cert and --tls-key go together: give both files, or neither to serve "
                "without TLS");
  }
  const bool tls = !options.tls_cert.empty();
  std::string tls_cert_pem;
  std::string tls_key_pem;
  if (tls) {
    absl::StatusOr<std::string> cert = ReadPem("--tls-cert", options.tls_cert, "CERTIFICATE");
    if (!cert.ok()) return Fail(std::string(cert.status().message()));
    absl::StatusOr<std::string> key = ReadPem("--tls-key", options.tls_key, "PRIVATE KEY");
    if (!key.ok()) return Fail(std::string(key.status().message()));
    if (absl::Status s = CheckTlsPair(*cert, options.tls_cert, *key, options.tls_key); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    tls_cert_pem = *std::move(cert);
    tls_key_pem = *std::move(key);
  }

  // SIGINT and SIGTERM are taken by sigwait below; every thread started from here inherits
  // the mask, so none of them is interrupted by them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::error_code error;
  if (absl::Status s = CreateDataDir(options.data_dir); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  const std::string db_path = (std::filesystem::path(options.data_dir) / kDatabaseFile).string();
  // A data directory the server may not write to (a read-only mount, a restored backup being
  // inspected, wrong ownership) is served read-only rather than refused: jobs and files stay
  // readable, and SQLite is kept from writing anything there (store.h, OpenOptions).
  const bool db_exists = std::filesystem::exists(db_path, error);
  const bool read_only = access(options.data_dir.c_str(), W_OK) != 0 ||
                         (db_exists && access(db_path.c_str(), W_OK) != 0);
  if (read_only && !db_exists) {
    return Fail("the data directory " + options.data_dir +
                " is read-only and holds no database: give a writable --data-dir");
  }
  // One server per data directory: a second one would train the same jobs twice, and a cancel
  // sent to one would not stop the other's runs. Held until the process exits. (A read-only
  // server writes nothing, so it needs no lock, and could not create one.)
  std::optional<DataDirLock> data_dir_lock;
  if (!read_only) {
    absl::StatusOr<DataDirLock> lock = DataDirLock::Acquire(options.data_dir);
    if (!lock.ok()) return Fail(std::string(lock.status().message()));
    data_dir_lock.emplace(*std::move(lock));
  }
  absl::StatusOr<std::unique_ptr<store::Store>> store = store::Store::Open(
      db_path, {.max_bytes = options.max_store_mib << 20, .read_only = read_only});
  if (!store.ok()) return Fail(std::string(store.status().message()));

  // Authentication is on once the database holds a user (checked again on every call). Off,
  // anyone who reaches a port can do anything: fine for one person on this machine, refused
  // on an address others can reach unless explicitly allowed.
  absl::StatusOr<bool> has_users = (*store)->HasUsers();
  if (!has_users.ok()) return Fail(std::string(has_users.status().message()));
  if (!*has_users) {
    for (const std::string& address : {options.listen, options.http}) {
      if (address.empty() || auth::IsLoopbackHost(auth::HostOf(address))) continue;
      if (!options.allow_unauthenticated) {
        return Fail("refusing to listen on " + address +
                    " without authentication: the server has no users, so anyone who can reach "
                    "it could do anything. Create a class first (ablate-server admin add-class "
                    "NAME --instructor YOU --data-dir " +
                    options.data_dir + "), listen on 127.0.0.1, or pass --allow-unauthenticated.");
      }
    }
    spdlog::warn(
        "authentication is off (the database has no users): anyone who can reach the server's "
        "ports can do anything. This is meant for one person on loopback; to share the server "
        "with a class, see `ablate-server admin --help`.{}",
        options.allow_unauthenticated ? " --allow-unauthenticated was given." : "");
  } else {
    spdlog::info("authentication is on: every call needs a user's token");
  }

  // Checkpoints live beside the database; a read-only data directory has none to write.
  std::unique_ptr<jobs::CheckpointFiles> checkpoint_files;
  if (!read_only && options.checkpoint_every_s > 0) {
    absl::StatusOr<std::unique_ptr<jobs::CheckpointFiles>> files = jobs::CheckpointFiles::Open(
        std::filesystem::path(options.data_dir) / kCheckpointDir);
    if (!files.ok()) return Fail(std::string(files.status().message()));
    checkpoint_files = *std::move(files);
  }
  jobs::CursorHub hub;
  jobs::EventWriter writer(**store, hub, checkpoint_files.get());
  std::unique_ptr<jobs::LocalExecutor> local_executor;
  std::unique_ptr<worker::SlurmLauncher> slurm_launcher;
  std::unique_ptr<worker::SlurmExecutor> slurm_executor;
  jobs::Executor* executor = nullptr;
  if (options.executor == "slurm") {
    worker::SlurmLaunchOptions& launch = options.slurm;
    launch.environment = worker::BlasEnvironment();
    for (absl::string_view arg : absl::StrSplit(options.slurm_extra_args, ' ', absl::SkipEmpty())) {
      launch.extra_args.emplace_back(arg);
    }
    if (launch.worker_program.empty() || launch.worker_program[0] != '/') {
      return Fail("--slurm-worker must be the absolute path of ablate-worker on the nodes, not \"" +
                  launch.worker_program + "\"");
    }
    if (launch.log_dir.empty()) {
      launch.log_dir = std::filesystem::absolute(options.data_dir + "/slurm").lexically_normal();
      std::filesystem::create_directories(launch.log_dir, error);
    }
    if (launch.log_dir[0] != '/') {
      return Fail("--slurm-log-dir must be an absolute path, not \"" + launch.log_dir + "\"");
    }
    const std::string ca_file = options.slurm_server_ca.empty() ? options.tls_cert
                                                               : options.slurm_server_ca;
    if (!ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadPem("--slurm-server-ca", ca_file, "CERTIFICATE");
      if (!ca.ok()) return Fail(std::string(ca.status().message()));
      launch.server_ca_pem = *std::move(ca);
    }
    absl::StatusOr<std::unique_ptr<slurm::SlurmClient>> client =
        slurm::SlurmClient::Create(slurm::SlurmOptions{});
    if (!client.ok()) return Fail(std::string(client.status().message()));
    slurm_launcher = std::make_unique<worker::SlurmLauncher>(*std::move(client), launch);
    worker::SlurmExecutorOptions executor_options;
    executor_options.max_running = options.slurm_max_jobs;
    executor_options.poll_interval = absl::Seconds(options.slurm_poll_seconds);
    executor_options.held = true;  // until Recover has queued every interrupted run
    slurm_executor =
        std::make_unique<worker::SlurmExecutor>(**store, *slurm_launcher, executor_options);
    executor = slurm_executor.get();
  } else {
    // Held until Recover has queued every interrupted run (see LocalExecutor).
    local_executor = std::make_unique<jobs::LocalExecutor>(options.workers, /*held=*/true);
    executor = local_executor.get();
  }
  // Every job's deliverables (README, figures, manifest, ...) are built on the training thread
  // that ends it, from what the store recorded, before the job is marked finished.
  const artifacts::BuildInfo build = artifacts::ThisBuild();
  jobs::JobManager jobs(
      **store, writer, *executor,
      [&store, &build](int64_t job_id) {
        return artifacts::BuildJobArtifacts(**store, job_id, build);
      },
      {.files = checkpoint_files.get(),
       .policy = {.every_seconds = options.checkpoint_every_s}});
  if (read_only) {
    jobs.RefuseChanges(absl::FailedPreconditionError(
        "the data directory " + options.data_dir +
        " is read-only: this server serves reads only, and jobs cannot be submitted or "
        "cancelled until it is writable again and the server restarted."));
  }
  service::ThreadPool service_pool(kServiceThreads);
  service::ThreadPool http_pool(kHttpServiceThreads);
  options.quotas.streams.recheck_interval = Millis(options.stream_recheck_s);
  options.quotas.live.fan_out_interval = std::chrono::milliseconds(options.fan_out_interval_ms);
  service::AblationService service(**store, jobs, hub, service_pool, options.quotas);
  rpc::GrpcService grpc_service(service, service_pool);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls) {
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_key_cert_pairs.push_back({.private_key = tls_key_pem, .cert_chain = tls_cert_pem});
    credentials = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort(options.listen, credentials, &port);
  builder.RegisterService(&grpc_service);
  // The workers' internal service (ablate.worker.v1): authenticated by each run's secret.
  if (slurm_executor) builder.RegisterService(&slurm_executor->service());
  builder.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  // A WatchJob stream can be quiet for minutes while its job waits in the queue; the CLI pings
  // it every 30 s to notice a vanished server, so pings that often must be welcome.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail("cannot listen on " + options.listen + " (is the address valid and the port free?" +
                (tls ? " do --tls-cert and --tls-key belong together?)" : ")"));
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  if (slurm_launcher) {
    std::string address = options.slurm_server_address;
    if (address.empty()) {
      std::string worker_host = host;
      if (worker_host == "0.0.0.0" || worker_host == "[::]" || worker_host == "::" ||
          worker_host.empty()) {
        char name[256] = {};
        gethostname(name, sizeof name - 1);
        worker_host = name;
      }
      address = worker_host + ":" + std::to_string(port);
    }
    slurm_launcher->SetServerAddress(address);
    spdlog::info("runs train on Slurm: ablate-worker {} reaches this server at {}{}",
                 options.slurm.worker_program, address, tls ? " over TLS" : "");
  }
  // The health service answers for the server ("") by itself; the API is named too, so that a
  // check can ask for it (`ablate health --service ablate.v1.Ablation`).
  server->GetHealthCheckService()->SetServingStatus(v1::Ablation::service_full_name(), true);

  // The HTTP gateway calls the same service; it starts before Recover, as gRPC does, so that a
  // resumed job can be watched from its first step.
  std::unique_ptr<http::HttpGateway> gateway;
  if (!options.http.empty()) {
    std::string http_host;
    int http_port = 0;
    if (!SplitHostPort(options.http, http_host, http_port)) {
      return Fail("--http must be HOST:PORT with a port in 0-65535 (got \"" + options.http + "\")");
    }
    metrics::Sources sources{
        .jobs_by_state = [&store] { return (*store)->CountJobs(); },
        .steps_recorded = [&writer] { return writer.StepsRecorded(); },
        .steps_per_second = [&writer] { return writer.StepsPerSecond(); },
        .run_queue_depth = [&local_executor, &slurm_executor] {
          return local_executor ? local_executor->QueuedRuns() : slurm_executor->QueuedRuns();
        },
        .watchers = [&grpc_service, &gateway] {
          return grpc_service.OpenStreams() + (gateway ? gateway->OpenStreams() : 0);
        },
        .store_full = [&writer] { return !writer.StoreFull().ok(); },
        .store_files = {db_path, db_path + "-wal"},
        .workers = executor->Workers(),
        .start_time = absl::Now()};
    http::GatewayOptions web = options.http_options;
    web.web_dir = options.web_dir;
    web.limits.header_timeout = Millis(options.http_header_timeout_s);
    web.limits.body_timeout = Millis(options.http_body_timeout_s);
    web.limits.write_timeout = Millis(options.http_write_timeout_s);
    web.tls_cert_file = options.tls_cert;
    web.tls_key_file = options.tls_key;
    web.metrics = [sources] { return metrics::Render(sources); };
    RaiseFileLimit(web.limits.max_connections);
    gateway = std::make_unique<http::HttpGateway>(service, http_pool, std::move(web));
    absl::StatusOr<int> bound = gateway->Start(http_host, http_port);
    if (!bound.ok()) return Fail(std::string(bound.status().message()));
    spdlog::info("ablate-server serving the web page and HTTP API on {}://{}:{}/",
                 tls ? "https" : "http", options.http.substr(0, options.http.rfind(':')), *bound);
  }

  if (read_only) {
    spdlog::warn("the data directory {} is read-only: serving reads only (no job is resumed, "
                 "submitted or cancelled)",
                 options.data_dir);
  } else if (absl::Status s = jobs.Recover(); !s.ok()) {
    return Fail("cannot resume the stored jobs: " + std::string(s.message()));
  }
  if (local_executor) local_executor->Release();
  if (slurm_executor) slurm_executor->Release();
  spdlog::info("ablate-server listening on {}:{} (gRPC{}), {} {}, database {}", host, port,
               tls ? " over TLS" : "", executor->Workers(),
               slurm_executor ? "Slurm jobs at once" : "workers", db_path);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("{} received: stopping; running jobs resume at the next start",
               signal == SIGINT ? "SIGINT" : "SIGTERM");
  std::thread([] {
    std::this_thread::sleep_for(kStopDeadline);
    spdlog::error("not stopped within {} s (work in flight did not end): exiting now; committed "
                  "events are kept and running jobs resume at the next start",
                  kStopDeadline.count());
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }).detach();
  // Order matters: tell health checks, stop the runs, close the front door, join the training
  // threads (they return within a step), and let the writer commit what they recorded.
  // Each phase is timed, so that a slow stop says in the log which part held it.
  const auto stop_began = std::chrono::steady_clock::now();
  auto phase_began = stop_began;
  std::string phases;
  auto phase_done = [&](const char* name) {
    const auto now = std::chrono::steady_clock::now();
    phases += absl::StrCat(
        phases.empty() ? "" : ", ", name, " ",
        std::chrono::duration_cast<std::chrono::milliseconds>(now - phase_began).count(), " ms");
    phase_began = now;
  };
  server->GetHealthCheckService()->Shutdown();  // NOT_SERVING from now on
  // Runs on Slurm go on training; their workers reconnect to the next server.
  if (slurm_executor) slurm_executor->Detach();
  jobs.Shutdown();
  phase_done("runs");
  service.Streams().Stop();     // no token re-check ends a stream from here on
  if (gateway) gateway->Stop();  // ends the event streams, which wait on the stopped jobs
  phase_done("HTTP");
  grpc_service.EndStreams();
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  phase_done("gRPC");
  local_executor.reset();
  slurm_executor.reset();
  phase_done("training threads");
  writer.Flush();
  phase_done("last commit");
  spdlog::info("ablate-server stopped in {} ms ({})",
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - stop_began)
                   .count(),
               phases);
  return 0;
}
