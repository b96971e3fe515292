// The machine a job ran on, as manifest.json records it. The lab asks for runs on the
// `performance` CPU frequency governor, so the governor is read and a warning is raised when it
// is anything else, or cannot be read.
#ifndef ABLATE_SERVER_ARTIFACTS_HOST_H_
#define ABLATE_SERVER_ARTIFACTS_HOST_H_

#include <cstdint>
#include <optional>
#include <string>

namespace ablate::artifacts {

struct HostInfo {
  std::string hostname;                     // empty when unknown
  std::string os;                           // "Linux 6.1.0-18-amd64 x86_64"
  std::string cpu_model;                    // "model name" of /proc/cpuinfo, or "unknown"
  int logical_cpus = 0;                     // 0 when unknown
  std::optional<int64_t> memory_bytes;      // MemTotal of /proc/meminfo
  std::optional<std::string> cpu_governor;  // cpu0's scaling_governor, "performance"
  std::string cpu_governor_source;          // the file it was read from
  // Why the governor is missing ("... cannot be read: No such file or directory"), or empty.
  std::string cpu_governor_error;
};

// Where ReadHostInfo looks; tests point these at files of their own.
struct HostPaths {
  std::string cpuinfo = "/proc/cpuinfo";
  std::string meminfo = "/proc/meminfo";
  std::string governor = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor";
};

// Reads what it can; a file that cannot be read leaves its fields unknown. Never fails.
HostInfo ReadHostInfo(const HostPaths& paths = {});

// The warning the manifest and README carry about the governor, or empty when it is
// "performance".
std::string GovernorWarning(const HostInfo& host);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_HOST_H_
