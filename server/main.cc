// ablate-server: Ablate's experiment server. Owns the training core and the SQLite store,
// and serves the ablate.v1.Ablation API over gRPC and, with --http, the web page and the same API
// as JSON and Server-Sent Events over HTTP.
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/admin.h"
#include "server/artifacts/artifacts.h"
#include "server/auth/loopback.h"
#include "server/jobs/cursor_hub.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/local_executor.h"
#include "server/http/gateway.h"
#include "server/rpc/grpc_service.h"
#include "server/service/service.h"
#include "server/service/thread_pool.h"
#include "server/store/store.h"
#include "spdlog/spdlog.h"

namespace {

constexpr char kDatabaseFile[] = "ablate.db";
// Largest request accepted: a JobSpec is a few hundred bytes; anything near this is hostile.
constexpr int kMaxReceiveBytes = 1 << 20;
// Threads for unary calls and watch reads: store work, never training.
constexpr int kServiceThreads = 4;
constexpr auto kShutdownGrace = std::chrono::seconds(2);

struct Options {
  std::string listen = "127.0.0.1:50051";
  std::string http;  // empty: no HTTP front door
  std::string web_dir = ablate::http::DefaultWebDir();
  std::string data_dir = "./ablate-data";
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool allow_unauthenticated = false;
};

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
  app.add_option("--workers", options.workers, "Runs trained at once, one thread each (1-256)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_flag("--allow-unauthenticated", options.allow_unauthenticated,
               "Listen on a non-loopback address although the server has no users, so that "
               "anyone who can reach it can do anything (see `ablate-server admin --help`)");
  app.footer("Classes, users and tokens: ablate-server admin --help");
  CLI11_PARSE(app, argc, argv);

  // SIGINT and SIGTERM are taken by sigwait below; every thread started from here inherits
  // the mask, so none of them is interrupted by them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    return Fail("cannot create the data directory " + options.data_dir + ": " + error.message());
  }
  const std::string db_path = (std::filesystem::path(options.data_dir) / kDatabaseFile).string();
  absl::StatusOr<std::unique_ptr<store::Store>> store = store::Store::Open(db_path);
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

  jobs::CursorHub hub;
  jobs::EventWriter writer(**store, hub);
  auto executor = std::make_unique<jobs::LocalExecutor>(options.workers);
  // Every job's deliverables (README, figures, manifest, ...) are built on the training thread
  // that ends it, from what the store recorded, before the job is marked finished.
  const artifacts::BuildInfo build = artifacts::ThisBuild();
  jobs::JobManager jobs(**store, writer, *executor, [&store, &build](int64_t job_id) {
    return artifacts::BuildJobArtifacts(**store, job_id, build);
  });
  service::ThreadPool service_pool(kServiceThreads);
  service::AblationService service(**store, jobs, hub, service_pool);
  rpc::GrpcService grpc_service(service, service_pool);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&grpc_service);
  builder.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  // A WatchJob stream can be quiet for minutes while its job waits in the queue; the CLI pings
  // it every 30 s to notice a vanished server, so pings that often must be welcome.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail("cannot listen on " + options.listen +
                " (is the address valid and the port free?)");
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));

  // The HTTP gateway calls the same service; it starts before Recover, as gRPC does, so that a
  // resumed job can be watched from its first step.
  std::unique_ptr<http::HttpGateway> gateway;
  if (!options.http.empty()) {
    std::string http_host;
    int http_port = 0;
    if (!SplitHostPort(options.http, http_host, http_port)) {
      return Fail("--http must be HOST:PORT with a port in 0-65535 (got \"" + options.http + "\")");
    }
    gateway = std::make_unique<http::HttpGateway>(service,
                                                  http::GatewayOptions{.web_dir = options.web_dir});
    absl::StatusOr<int> bound = gateway->Start(http_host, http_port);
    if (!bound.ok()) return Fail(std::string(bound.status().message()));
    spdlog::info("ablate-server serving the web page and HTTP API on http://{}:{}/",
                 options.http.substr(0, options.http.rfind(':')), *bound);
  }

  if (absl::Status s = jobs.Recover(); !s.ok()) {
    return Fail("cannot resume the stored jobs: " + std::string(s.message()));
  }
  spdlog::info("ablate-server listening on {}:{} (gRPC), {} workers, database {}", host, port,
               options.workers, db_path);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("{} received: stopping; running jobs resume at the next start",
               signal == SIGINT ? "SIGINT" : "SIGTERM");
  // Order matters: stop the runs, close the front door, join the training threads (they
  // return within a step), and let the writer commit what they recorded.
  jobs.Shutdown();
  if (gateway) gateway->Stop();  // ends the event streams, which wait on the stopped jobs
  grpc_service.EndStreams();
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  executor.reset();
  writer.Flush();
  spdlog::info("ablate-server stopped");
  return 0;
}
