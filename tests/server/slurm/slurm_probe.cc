// The batch program of the Slurm driver's tests (a stand-in for the worker): writes what it
// was started with to a report file, then sleeps and exits as told.
//
//   slurm_probe REPORT [SLEEP_MS [EXIT_CODE [ARG...]]]
//
// REPORT receives, one per line: "cwd=<working directory>", "arg=<argv[i]>" for every argument,
// "env=<NAME=value>" for every environment variable, "fd=<n>" for every open descriptor,
// "time_ns=<CLOCK_REALTIME at its start, in ns>", and finally "started". It is written to
// REPORT.tmp and renamed, so a reader sees all or nothing.
#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>

extern char** environ;

int main(int argc, char** argv) {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  if (argc < 2) {
    std::fprintf(stderr, "usage: slurm_probe REPORT [SLEEP_MS [EXIT_CODE [ARG...]]]\n");
    return 2;
  }
  const std::string report = argv[1];
  const long sleep_ms = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 0;
  const int exit_code = argc > 3 ? std::atoi(argv[3]) : 0;

  std::string text;
  char cwd[4096];
  text += "cwd=" + std::string(getcwd(cwd, sizeof(cwd)) ? cwd : "?") + "\n";
  for (int i = 0; i < argc; ++i) text += "arg=" + std::string(argv[i]) + "\n";
  for (char** e = environ; *e != nullptr; ++e) text += "env=" + std::string(*e) + "\n";
  if (DIR* fds = opendir("/proc/self/fd")) {
    const int own = dirfd(fds);
    while (dirent* entry = readdir(fds)) {
      if (entry->d_name[0] == '.') continue;
      if (std::atoi(entry->d_name) != own) text += "fd=" + std::string(entry->d_name) + "\n";
    }
    closedir(fds);
  }
  text += "time_ns=" + std::to_string(now.tv_sec * 1000000000LL + now.tv_nsec) + "\n";
  text += "started\n";
  const std::string tmp = report + ".tmp";
  FILE* out = std::fopen(tmp.c_str(), "w");
  if (out == nullptr || std::fwrite(text.data(), 1, text.size(), out) != text.size() ||
      std::fclose(out) != 0 || std::rename(tmp.c_str(), report.c_str()) != 0) {
    std::perror(report.c_str());
    return 2;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  return exit_code;
}
