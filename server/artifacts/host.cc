#include "server/artifacts/host.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace ablate::artifacts {
namespace {

// The text of a small file, or nothing (errno says why).
std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "key<tabs>: value" lines, as /proc/cpuinfo and /proc/meminfo write them.
std::optional<std::string> FieldValue(absl::string_view line, absl::string_view key) {
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return std::nullopt;
  if (absl::StripAsciiWhitespace(line.substr(0, colon)) != key) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
}

}  // namespace

HostInfo ReadHostInfo(const HostPaths& paths) {
  HostInfo host;
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0) host.hostname = name;
  struct utsname uts {};
  if (uname(&uts) == 0) host.os = absl::StrCat(uts.sysname, " ", uts.release, " ", uts.machine);

  host.cpu_model = "unknown";
  if (std::optional<std::string> cpuinfo = ReadSmallFile(paths.cpuinfo)) {
    int processors = 0;
    bool have_model = false;
    for (absl::string_view line : absl::StrSplit(*cpuinfo, '\n')) {
      if (FieldValue(line, "processor")) ++processors;
      if (!have_model) {
        // x86 says "model name"; some other architectures only "Hardware" or "cpu model".
        for (absl::string_view key : {"model name", "cpu model", "Hardware"}) {
          if (std::optional<std::string> v = FieldValue(line, key); v && !v->empty()) {
            host.cpu_model = *v;
            have_model = true;
            break;
          }
        }
      }
    }
    host.logical_cpus = processors;
  }
  if (host.logical_cpus == 0)
    host.logical_cpus = static_cast<int>(std::thread::hardware_concurrency());

  if (std::optional<std::string> meminfo = ReadSmallFile(paths.meminfo)) {
    for (absl::string_view line : absl::StrSplit(*meminfo, '\n')) {
      if (std::optional<std::string> v = FieldValue(line, "MemTotal")) {
        int64_t kib = 0;  // "16318156 kB"
        if (absl::SimpleAtoi(absl::StripSuffix(*v, " kB"), &kib)) host.memory_bytes = kib * 1024;
        break;
      }
    }
  }

  host.cpu_governor_source = paths.governor;
  errno = 0;
  if (std::optional<std::string> governor = ReadSmallFile(paths.governor)) {
    std::string value(absl::StripAsciiWhitespace(*governor));
    if (value.empty()) {
      host.cpu_governor_error = absl::StrCat(paths.governor, " is empty");
    } else {
      host.cpu_governor = value;
    }
  } else {
    host.cpu_governor_error = absl::StrCat(
        paths.governor, " cannot be read (", errno != 0 ? std::strerror(errno) : "unknown error",
        "): the kernel exposes no cpufreq driver, as in many virtual machines and "
        "containers");
  }
  return host;
}

std::string GovernorWarning(const HostInfo& host) {
  if (host.cpu_governor == "performance") return "";
  if (!host.cpu_governor) {
    return absl::StrCat("The CPU frequency governor is unknown: ", host.cpu_governor_error,
                        ". The lab asks for \"performance\"; step times may be noisier.");
  }
  return absl::StrCat("The CPU frequency governor is \"", *host.cpu_governor,
                      "\", not \"performance\" as the lab asks: step times may vary with the "
                      "clock speed.");
}

}  // namespace ablate::artifacts
