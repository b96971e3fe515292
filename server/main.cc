// ablate-server: Ablate's experiment server. Owns the training core and the SQLite store,
// and serves the ablate.v1.Ablation API over gRPC and, with --http, the web page and the same API
// as JSON and Server-Sent Events over HTTP.
#include <cerrno>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
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
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/admin.h"
#include "server/data_dir.h"
#include "server/flags.h"
#include "server/tls_files.h"
#include "server/artifacts/artifacts.h"
#include "server/artifacts/plot.h"
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
// Free heap above which a job's end returns it to the system (malloc_trim).
constexpr size_t kTrimAboveFreeBytes = size_t{64} << 20;
// SIGTERM stops the server within 10 s whatever is in flight (a huge training step, a slow
// disk): past this the process exits at once, as after kill -9, which the store survives
// (committed events stay, running jobs resume at the next start).
constexpr auto kStopDeadline = std::chrono::seconds(9);

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
  ServerFlags options;
  CLI::App app{"ablate-server: Ablate's experiment server (gRPC API, SQLite store, trainer)"};
  AddServerFlags(app, options);

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
  jobs::EventWriter writer(**store, hub, checkpoint_files.get(), options.max_run_backlog);
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
  // Every job's deliverables (README, figures, manifest, ...) are built on one of the job
  // manager's finishing threads, from what the store recorded, before the job is marked
  // finished.
  const artifacts::BuildInfo build = artifacts::ThisBuild();
  jobs::JobManager jobs(
      **store, writer, *executor,
      [&store, &build](int64_t job_id) {
        absl::Status built = artifacts::BuildJobArtifacts(**store, job_id, build);
        // A large job's end holds a few hundred MB for a moment (its trajectories, figures
        // and files): give the freed pages back, or the server's RSS stays at the largest end
        // it has seen. Not after every end: a small job's end would then pay a fifth more for
        // the page faults of its next figures.
        if (mallinfo2().fordblks > kTrimAboveFreeBytes) malloc_trim(0);
        return built;
      },
      {.files = checkpoint_files.get(),
       .policy = {.every_seconds = options.checkpoint_every_s}},
      FinishingThreads(options), [] {
        // Off the jobs' ends: a thread's first figure loads the drawing libraries and fonts.
        const absl::Time start = absl::Now();
        const absl::Status drawn = artifacts::WarmUpFigures();
        static std::atomic<bool> said{false};
        if (said.exchange(true)) return;  // once, not once per finishing thread
        if (!drawn.ok()) {
          spdlog::warn("jobs' figures cannot be drawn: {}", std::string(drawn.message()));
        } else {
          spdlog::info("figures ready: drawing libraries and fonts loaded in {} ms",
                       absl::ToInt64Milliseconds(absl::Now() - start));
        }
      });
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
  rpc::GrpcService grpc_service(service, service_pool, Millis(options.http_write_timeout_s));

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
  // Connections that hold memory and a file without using them are closed (gRPC 1.51 has no
  // cap on their number: README, "gRPC limits").
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(Millis(options.grpc_handshake_timeout_s).count()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             static_cast<int>(Millis(options.grpc_idle_timeout_s).count()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.grpc_max_streams_per_connection);
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
        .store_wait_seconds = [&writer] { return writer.StoreWaitSeconds(); },
        .run_queue_depth = [&local_executor, &slurm_executor] {
          return local_executor ? local_executor->QueuedRuns() : slurm_executor->QueuedRuns();
        },
        .watchers = [&grpc_service, &gateway] {
          return grpc_service.OpenStreams() + (gateway ? gateway->OpenStreams() : 0);
        },
        .watch_delay = [&service] { return service.WatchDelays(); },
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
  const int finishing_threads = FinishingThreads(options);
  spdlog::info("ablate-server listening on {}:{} (gRPC{}), {} {}, {} finishing thread{}, "
               "database {}",
               host, port, tls ? " over TLS" : "", executor->Workers(),
               slurm_executor ? "Slurm jobs at once" : "workers", finishing_threads,
               finishing_threads == 1 ? "" : "s", db_path);

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
