// ablate-server: Ablate's experiment server. Owns the training core and the SQLite store,
// and serves the ablate.v1.Ablation API over gRPC.
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/artifacts/artifacts.h"
#include "server/jobs/cursor_hub.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/local_executor.h"
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
  std::string data_dir = "./ablate-data";
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
};

int Fail(const std::string& message) {
  spdlog::error("{}", message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ablate;
  Options options;
  CLI::App app{"ablate-server: Ablate's experiment server (gRPC API, SQLite store, trainer)"};
  app.add_option("--listen", options.listen, "gRPC address, HOST:PORT (port 0 picks a free one)")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "Directory of the SQLite database")
      ->capture_default_str();
  app.add_option("--workers", options.workers, "Runs trained at once, one thread each (1-256)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
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
  grpc_service.EndStreams();
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  executor.reset();
  writer.Flush();
  spdlog::info("ablate-server stopped");
  return 0;
}
