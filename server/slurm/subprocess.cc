#include "server/slurm/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ablate::slurm {
namespace {

// Descriptors handed to the child are first moved at or above this, so that no source
// descriptor is also a target (0..9) of another dup2 in the same file actions.
constexpr int kFirstHighFd = 10;

absl::Status Errno(const char* what, int err) {
  return absl::InternalError(absl::StrCat(what, " failed: ", std::strerror(err)));
}

// A descriptor closed on scope exit unless released.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.Release()) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset(other.Release());
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Duplicates `fd` at or above kFirstHighFd (close-on-exec) and closes the original.
absl::StatusOr<Fd> MoveHigh(Fd fd) {
  int high = fcntl(fd.get(), F_DUPFD_CLOEXEC, kFirstHighFd);
  if (high < 0) return Errno("fcntl(F_DUPFD_CLOEXEC)", errno);
  return Fd(high);
}

// An anonymous in-memory file holding `data`, positioned at its start. Unlike a pipe it
// never blocks the writer, whatever the size, and a reader that stops early raises no SIGPIPE.
absl::StatusOr<Fd> MemoryFile(const std::string& data) {
  Fd fd(memfd_create("ablate-input", MFD_CLOEXEC));
  if (fd.get() < 0) return Errno("memfd_create", errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write to memfd", errno);
    done += static_cast<size_t>(n);
  }
  if (lseek(fd.get(), 0, SEEK_SET) != 0) return Errno("lseek", errno);
  return MoveHigh(std::move(fd));
}

void KillGroup(pid_t pid) {
  kill(-pid, SIGKILL);  // the child made its own group; also ends anything it started
  kill(pid, SIGKILL);
}

// Waits for `pid` to end; fills exit_code/signal.
absl::Status Reap(pid_t pid, CommandResult& result) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Errno("waitpid", errno);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return absl::OkStatus();
}

std::string ProgramName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The error for a child killed at its deadline, with the last thing it said: a tool that
// retries (e.g. an unreachable controller) says why before it is killed.
absl::Status TimedOut(const Command& command, const std::string& err) {
  std::string message = absl::StrCat(ProgramName(command.program), " did not finish within ",
                                     absl::FormatDuration(command.timeout), " and was killed");
  absl::string_view text = err;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (!text.empty()) {
    size_t newline = text.rfind('\n');
    absl::string_view last = newline == absl::string_view::npos ? text : text.substr(newline + 1);
    if (last.size() > 300) last = last.substr(0, 300);
    absl::StrAppend(&message, "; its last words: ", last);
  }
  return absl::DeadlineExceededError(message);
}

}  // namespace

absl::StatusOr<CommandResult> RunCommand(const Command& command) {
  if (command.program.empty() || command.program[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("the program to run must be an absolute path, not '", command.program, "'"));
  }
  if (command.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the command's timeout must be positive");
  }
  std::set<int> input_fds;
  for (const auto& [fd, data] : command.inputs) {
    if (!(fd == 0 || (fd >= 3 && fd < kFirstHighFd)) || !input_fds.insert(fd).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("input descriptor ", fd, " must be 0 or 3..9 and given once"));
    }
  }

  // Parent ends of the output pipes, and the child's ends, all close-on-exec and high.
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return Errno("pipe2", errno);
  Fd out_read(out_pipe[0]), out_write_low(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return Errno("pipe2", errno);
  Fd err_read(err_pipe[0]), err_write_low(err_pipe[1]);
  absl::StatusOr<Fd> out_write = MoveHigh(std::move(out_write_low));
  if (!out_write.ok()) return out_write.status();
  absl::StatusOr<Fd> err_write = MoveHigh(std::move(err_write_low));
  if (!err_write.ok()) return err_write.status();
  std::vector<std::pair<int, Fd>> inputs;  // target descriptor, memfd
  for (const auto& [fd, data] : command.inputs) {
    absl::StatusOr<Fd> file = MemoryFile(data);
    if (!file.ok()) return file.status();
    inputs.emplace_back(fd, std::move(*file));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&] { posix_spawn_file_actions_destroy(&actions); };
  if (!input_fds.count(0)) {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  for (const auto& [target, file] : inputs) {
    posix_spawn_file_actions_adddup2(&actions, file.get(), target);
  }
  posix_spawn_file_actions_adddup2(&actions, out_write->get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_write->get(), 2);
  // Nothing of the server's leaks into the child: not its sockets, not its database. glibc
  // ignores closing a descriptor that is not open.
  int highest_target = input_fds.empty() ? 2 : std::max(2, *input_fds.rbegin());
  for (int fd = 3; fd < highest_target; ++fd) {
    if (!input_fds.count(fd)) posix_spawn_file_actions_addclose(&actions, fd);
  }
  posix_spawn_file_actions_addclosefrom_np(&actions, highest_target + 1);

  // Default signal handling and no blocked signals (the server may ignore SIGPIPE), and a
  // process group of its own so that a timeout can end everything it started.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  absl::Cleanup destroy_attr = [&] { posix_spawnattr_destroy(&attr); };
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);

  std::vector<std::string> argv_storage;
  argv_storage.reserve(command.args.size() + 1);
  argv_storage.push_back(ProgramName(command.program));
  argv_storage.insert(argv_storage.end(), command.args.begin(), command.args.end());
  std::vector<char*> argv, envp;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = command.env;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  int spawn_error =
      posix_spawn(&pid, command.program.c_str(), &actions, &attr, argv.data(), envp.data());
  if (spawn_error != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start ", command.program, ": ", std::strerror(spawn_error)));
  }
  // The child holds its own copies now; the parent must not keep the write ends open, or it
  // would never see end-of-file.
  out_write->Reset();
  err_write->Reset();
  inputs.clear();

  CommandResult result;
  const absl::Time deadline = absl::Now() + command.timeout;
  for (Fd* fd : {&out_read, &err_read}) {
    fcntl(fd->get(), F_SETFL, fcntl(fd->get(), F_GETFL) | O_NONBLOCK);
  }
  struct Stream {
    Fd* fd;
    std::string* text;
  } streams[2] = {{&out_read, &result.out}, {&err_read, &result.err}};
  char buffer[65536];
  while (out_read.get() >= 0 || err_read.get() >= 0) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      KillGroup(pid);
      (void)Reap(pid, result);
      return TimedOut(command, result.err);
    }
    pollfd polls[2];
    int count = 0;
    for (Stream& s : streams) {
      if (s.fd->get() >= 0) polls[count++] = {s.fd->get(), POLLIN, 0};
    }
    int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000));
    if (poll(polls, count, ms) < 0 && errno != EINTR) {
      int err = errno;
      KillGroup(pid);
      (void)Reap(pid, result);
      return Errno("poll", err);
    }
    for (Stream& s : streams) {
      if (s.fd->get() < 0) continue;
      ssize_t n = read(s.fd->get(), buffer, sizeof(buffer));
      if (n == 0) {
        s.fd->Reset();
      } else if (n > 0) {
        if (s.text->size() + static_cast<size_t>(n) > command.max_output_bytes) {
          KillGroup(pid);
          (void)Reap(pid, result);
          return absl::ResourceExhaustedError(absl::StrCat(
              ProgramName(command.program), " printed more than ", command.max_output_bytes,
              " bytes on ", s.text == &result.out ? "stdout" : "stderr", " and was killed"));
        }
        s.text->append(buffer, static_cast<size_t>(n));
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        s.fd->Reset();
      }
    }
  }

  // Both outputs are closed; the child is exiting, or has closed them and runs on.
  absl::Duration pause = absl::Microseconds(200);
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
      return result;
    }
    if (r < 0 && errno != EINTR) return Errno("waitpid", errno);
    if (absl::Now() >= deadline) {
      KillGroup(pid);
      (void)Reap(pid, result);
      return TimedOut(command, result.err);
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(20));
  }
}

}  // namespace ablate::slurm
