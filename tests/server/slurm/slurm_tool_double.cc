// A stand-in for a Slurm command (installed as bin_dir/sbatch, bin_dir/squeue, ...) for the
// driver's tests. Its behaviour comes from the file that SLURM_CONF names, the one variable the
// driver passes through:
// - a file starting with "# fake" makes it a fake: the lines "exit=N", "sleep_ms=N", "out=TEXT"
//   and "err=TEXT" (repeatable; \n in TEXT is a newline) say what it does;
// - any other file (a real slurm.conf) makes it a spy: it waits SPY_WAIT_MS so that a test can
//   read its command line, environment and descriptors in /proc, then runs the real command of
//   its name, found in PATH after its own directory, with the same arguments and environment.
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

namespace {

constexpr int kSpyWaitMs = 400;

std::string Unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string Resolved(const std::string& path) {
  char buffer[PATH_MAX];
  return realpath(path.c_str(), buffer) ? buffer : "";
}

}  // namespace

int main(int argc, char** argv) {
  (void)argc;
  const char* conf = getenv("SLURM_CONF");
  std::ifstream in(conf ? conf : "");
  std::string line;
  if (in && std::getline(in, line) && line.rfind("# fake", 0) == 0) {
    int exit_code = 0;
    while (std::getline(in, line)) {
      if (line.rfind("exit=", 0) == 0) exit_code = std::atoi(line.c_str() + 5);
      if (line.rfind("sleep_ms=", 0) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(line.c_str() + 9)));
      }
      if (line.rfind("out=", 0) == 0) std::fputs(Unescape(line.substr(4)).c_str(), stdout);
      if (line.rfind("err=", 0) == 0) std::fputs(Unescape(line.substr(4)).c_str(), stderr);
    }
    std::fflush(stdout);
    return exit_code;
  }

  std::this_thread::sleep_for(std::chrono::milliseconds(kSpyWaitMs));
  const std::string name = std::string(argv[0]).substr(std::string(argv[0]).rfind('/') + 1);
  const std::string self = Resolved("/proc/self/exe");
  std::string path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::string candidate = path.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0 && Resolved(candidate) != self) {
      execv(candidate.c_str(), argv);
      std::perror(candidate.c_str());
      return 127;
    }
    start = end + 1;
  }
  std::fprintf(stderr, "slurm_tool_double: no real %s in PATH\n", name.c_str());
  return 127;
}
