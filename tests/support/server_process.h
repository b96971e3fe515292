// A real ablate-server as a child process, for tests and load programs that must exercise the
// binary itself (its flags, its limits, its signal handling) rather than an in-process stack:
// gRPC (and optionally HTTP) on 127.0.0.1 with ports the server picks, a fresh temporary data
// directory, its log in a file, and SIGTERM at the end (as tests/e2e/lib.sh does in shell).
//
// Not thread-safe: one thread starts and stops it.
#ifndef ABLATE_TESTS_SUPPORT_SERVER_PROCESS_H_
#define ABLATE_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ablate::test_support {

struct ServerOptions {
  std::string binary;  // path of ablate-server
  int workers = 2;     // --workers
  bool http = false;   // also serve HTTP (--http 127.0.0.1:0)
  std::vector<std::string> extra_args;
  // `ablate-server admin` commands run on the data directory before the server starts (e.g.
  // {"add-class", "cs101", "--instructor", "carol"} to turn authentication on).
  std::vector<std::vector<std::string>> admin = {};
};

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  // Stops the server (SIGTERM, then SIGKILL after 30 s) and removes the temporary directory.
  ~ServerProcess() {
    if (pid_ > 0) Stop(std::chrono::seconds(30));
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  // Starts the server and waits (up to 20 s) until its log says where it listens. Returns an
  // empty string on success, otherwise why it failed (with the log's tail).
  std::string Start(const ServerOptions& options) {
    char pattern[] = "/tmp/ablate-server-test.XXXXXX";
    if (mkdtemp(pattern) == nullptr) return "cannot create a temporary directory";
    dir_ = pattern;
    log_path_ = dir_ / "server.log";
    options_ = options;
    for (const std::vector<std::string>& command : options.admin) {
      std::vector<std::string> args = {options.binary, "admin"};
      args.insert(args.end(), command.begin(), command.end());
      args.push_back("--data-dir");
      args.push_back((dir_ / "data").string());
      if (const int status = Run(args); status != 0) {
        return "ablate-server admin " + command.front() + " failed:\n" + Log();
      }
    }
    return Launch("127.0.0.1:0", "127.0.0.1:0");
  }

  // Stops the server with SIGTERM (its exit status, as Stop returns it, goes to `exit_status`)
  // and starts it again on the same ports and data directory, as an operator's restart would.
  // Returns what Start returns.
  std::string Restart(std::optional<int>& exit_status) {
    exit_status = Stop(std::chrono::seconds(30));
    return Launch("127.0.0.1:" + std::to_string(grpc_port_),
                  "127.0.0.1:" + std::to_string(http_port_));
  }

  // Sends SIGTERM and waits up to `grace` for the exit (then SIGKILL). Returns the exit status
  // as waitpid reports it, or nullopt when the server had to be killed or was not running.
  std::optional<int> Stop(std::chrono::seconds grace) {
    if (pid_ <= 0) return std::nullopt;
    kill(pid_, SIGTERM);
    const auto give_up = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (std::chrono::steady_clock::now() < give_up) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return std::nullopt;
  }

  // True while the process has not exited.
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  // A field of /proc/PID/status in kB ("VmHWM" is the peak resident set, "VmRSS" the current
  // one); -1 when it cannot be read.
  long StatusKb(const std::string& field) const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(field + ":", 0) == 0)
        return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
    return -1;
  }

  // Everything the server has logged so far.
  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  pid_t pid() const { return pid_; }
  std::string GrpcAddress() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }

 private:
  // Runs `args` to its end with its output in the log; its exit status, or -1.
  int Run(std::vector<std::string> args) const {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string Launch(const std::string& listen, const std::string& http_listen) {
    std::vector<std::string> args = {options_.binary,
                                     "--listen",
                                     listen,
                                     "--data-dir",
                                     (dir_ / "data").string(),
                                     "--workers",
                                     std::to_string(options_.workers)};
    if (options_.http) {
      args.push_back("--http");
      args.push_back(http_listen);
    }
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // The log is appended to, so a restarted server's log follows the first one's; only what
    // this start wrote is searched for the ports.
    const size_t log_start = Log().size();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      pid_ = -1;
      return "cannot start " + options_.binary;
    }

    static const std::regex kGrpc(R"(listening on [0-9.]+:([0-9]+))");
    static const std::regex kHttp(R"(HTTP API on http://[0-9.]+:([0-9]+)/)");
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < give_up) {
      const std::string log = Log().substr(log_start);
      std::smatch match;
      if (std::regex_search(log, match, kGrpc)) {
        grpc_port_ = std::stoi(match[1]);
        if (options_.http) {
          if (!std::regex_search(log, match, kHttp)) return "no HTTP port in the log:\n" + log;
          http_port_ = std::stoi(match[1]);
        }
        return "";
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "the server exited at start:\n" + log;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "the server did not start listening within 20 s:\n" + Log().substr(log_start);
  }

  ServerOptions options_;
  pid_t pid_ = -1;
  std::filesystem::path dir_;
  std::filesystem::path log_path_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_SERVER_PROCESS_H_
