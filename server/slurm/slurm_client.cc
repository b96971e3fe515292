#include "server/slurm/slurm_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/slurm/parse.h"
#include "server/slurm/subprocess.h"

namespace ablate::slurm {
namespace {

constexpr size_t kMaxPathBytes = 4096;
constexpr size_t kMaxValueBytes = 256;
// sbatch options the driver sets itself, or that would change how the job's environment,
// script, output or submission are handled. Long names are matched by prefix too, because
// sbatch (getopt_long) accepts any unambiguous abbreviation ("--exp=ALL").
constexpr std::array<absl::string_view, 18> kRefusedLong = {
    "export", "export-file", "get-user-env", "wrap",     "chdir",     "output",
    "error",  "input",       "job-name",     "parsable", "requeue",   "no-requeue",
    "array",  "uid",         "gid",          "wait",     "test-only", "help"};
constexpr absl::string_view kRefusedShort = "DoeiJaWhVu";

bool HasControl(absl::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}
bool HasSpaceOrControl(absl::string_view text) {
  return HasControl(text) || text.find(' ') != absl::string_view::npos;
}

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("Slurm job ", field, " ", why));
}

absl::Status CheckAbsolutePath(absl::string_view field, const std::string& path,
                               bool allow_spaces) {
  if (path.empty() || path[0] != '/') {
    return Invalid(field, absl::StrCat("must be an absolute path, not '", path, "'"));
  }
  if (path.size() > kMaxPathBytes) {
    return Invalid(field, absl::StrCat("must be at most ", kMaxPathBytes, " bytes long"));
  }
  if (allow_spaces ? HasControl(path) : HasSpaceOrControl(path)) {
    return Invalid(field, allow_spaces ? "must not contain control characters"
                                       : "must not contain spaces or control characters");
  }
  return absl::OkStatus();
}

absl::Status CheckOptionalValue(absl::string_view field, const std::string& value) {
  if (value.empty()) return absl::OkStatus();
  if (value.size() > kMaxValueBytes || HasSpaceOrControl(value) || value[0] == '-') {
    return Invalid(field, absl::StrCat("must be 1-", kMaxValueBytes,
                                       " bytes without spaces or control characters, not "
                                       "starting with '-'"));
  }
  return absl::OkStatus();
}

bool IsEnvName(absl::string_view name) {
  if (name.empty() || !(absl::ascii_isalpha(name[0]) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

absl::Status CheckExtraArg(const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-' || HasControl(arg)) {
    return Invalid("extra argument",
                   absl::StrCat("'", arg,
                                "' must be one sbatch option with its value joined, such as "
                                "--mem=2G or -pdebug"));
  }
  if (arg[1] == '-') {
    absl::string_view name = absl::string_view(arg).substr(2);
    name = name.substr(0, name.find('='));
    for (absl::string_view refused : kRefusedLong) {
      if (!name.empty() && absl::StartsWith(refused, name)) {
        return Invalid("extra argument", absl::StrCat("'", arg, "' is refused: the driver sets --",
                                                      refused, " itself or does not support it"));
      }
    }
  } else if (kRefusedShort.find(arg[1]) != absl::string_view::npos) {
    return Invalid("extra argument",
                   absl::StrCat("'", arg, "' is refused: the driver sets -", std::string(1, arg[1]),
                                " itself or does not support it"));
  }
  return absl::OkStatus();
}

absl::Status CheckRequest(const SubmitRequest& r) {
  if (absl::Status s = CheckAbsolutePath("program", r.program, /*allow_spaces=*/true); !s.ok()) {
    return s;
  }
  for (const std::string& arg : r.args) {
    if (arg.find('\0') != std::string::npos) return Invalid("argument", "must not contain NUL");
  }
  if (r.job_name.empty() || r.job_name.size() > 128 ||
      !std::all_of(r.job_name.begin(), r.job_name.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
      })) {
    return Invalid("name", absl::StrCat("must be 1-128 characters of A-Z a-z 0-9 . _ -, not '",
                                        r.job_name, "'"));
  }
  for (auto [field, path] :
       {std::pair<absl::string_view, const std::string*>{"working directory", &r.working_dir},
        {"stdout path", &r.stdout_path},
        {"stderr path", &r.stderr_path}}) {
    if (absl::Status s = CheckAbsolutePath(field, *path, /*allow_spaces=*/false); !s.ok()) {
      return s;
    }
  }
  for (auto [field, value] :
       {std::pair<absl::string_view, const std::string*>{"partition", &r.partition},
        {"account", &r.account},
        {"time limit", &r.time_limit}}) {
    if (absl::Status s = CheckOptionalValue(field, *value); !s.ok()) return s;
  }
  for (const std::string& arg : r.extra_args) {
    if (absl::Status s = CheckExtraArg(arg); !s.ok()) return s;
  }
  absl::flat_hash_set<std::string> names;
  for (const auto& [name, value] : r.environment) {
    if (!IsEnvName(name) || absl::StartsWith(name, "SLURM_")) {
      return Invalid("environment variable",
                     absl::StrCat("name '", name,
                                  "' must match [A-Za-z_][A-Za-z0-9_]* and not start with SLURM_"));
    }
    if (!names.insert(name).second) {
      return Invalid("environment variable", absl::StrCat("'", name, "' is given twice"));
    }
    if (value.find('\0') != std::string::npos) {
      return Invalid("environment variable", absl::StrCat("'", name, "' must not contain NUL"));
    }
  }
  return absl::OkStatus();
}

std::string ShellQuote(absl::string_view text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "'\\''"}}), "'");
}

// What a tool said on stderr, as one line: its own "sbatch: error: " prefixes dropped, lines
// joined, cut to a length a sentence can carry.
std::string Said(absl::string_view err) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(err, '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    for (absl::string_view prefix : {"sbatch: error: ", "squeue: error: ", "scontrol: error: ",
                                     "scancel: error: ", "slurm_load_jobs error: "}) {
      if (absl::ConsumePrefix(&line, prefix)) break;
    }
    absl::ConsumeSuffix(&line, ".");
    lines.emplace_back(line);
  }
  std::string said = absl::StrJoin(lines, "; ");
  constexpr size_t kMax = 400;
  if (said.size() > kMax) said = absl::StrCat(said.substr(0, kMax), "...");
  return said;
}

// The status for a tool that ran and exited non-zero (or by a signal).
absl::Status ToolFailed(absl::string_view what, const CommandResult& result) {
  std::string said = Said(result.err);
  std::string how = result.signal != 0 ? absl::StrCat("was killed by signal ", result.signal)
                                       : absl::StrCat("failed with exit code ", result.exit_code);
  std::string message = said.empty() ? absl::StrCat(what, " ", how, " and printed no error")
                                     : absl::StrCat(what, " ", how, ": ", said);
  absl::StrAppend(&message, ".");
  for (absl::string_view unreachable :
       {"Unable to contact slurm controller", "Socket timed out", "Connection refused",
        "Zero Bytes were transmitted", "Communication connection failure", "Munge encode failed",
        "Unable to establish controller machine"}) {
    if (absl::StrContains(said, unreachable)) return absl::UnavailableError(message);
  }
  return absl::FailedPreconditionError(message);
}

// A tool run that did not reach its end (timeout, output limit, could not start).
absl::Status ToolDidNotRun(absl::string_view what, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message(), "."));
}

absl::StatusOr<std::string> FindTool(const std::string& bin_dir, absl::string_view name) {
  auto executable = [](const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
  };
  if (!bin_dir.empty()) {
    std::string path = absl::StrCat(bin_dir, "/", name);
    if (executable(path)) return path;
    return absl::FailedPreconditionError(absl::StrCat(
        "the Slurm command ", name, " is not an executable file in ", bin_dir,
        " (the Slurm binaries directory); install slurm-client or name the right directory"));
  }
  const char* env_path = std::getenv("PATH");
  std::string search = absl::StrCat(env_path ? env_path : "", ":/usr/bin");
  for (absl::string_view dir : absl::StrSplit(search, ':', absl::SkipEmpty())) {
    if (dir[0] != '/') continue;
    std::string path = absl::StrCat(dir, "/", name);
    if (executable(path)) return path;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("the Slurm command ", name,
                   " was not found in PATH or /usr/bin; install "
                   "slurm-client (deploy/install-deps.sh does) or name its directory"));
}

}  // namespace

std::string BatchScript(const std::string& program, const std::vector<std::string>& args) {
  // The exit codes are kExitProgramMissing and kExitProgramNotExecutable.
  constexpr absl::string_view kHead =
      "#!/bin/sh\n"
      "# Submitted by Ablate: runs one program in place of this shell.\n"
      "p=";
  constexpr absl::string_view kChecks = R"(
if [ ! -e "$p" ]; then
  echo "ablate: the program $p does not exist on ${SLURMD_NODENAME:-this node}" >&2
  exit 127
fi
if [ ! -f "$p" ] || [ ! -x "$p" ]; then
  echo "ablate: the program $p is not an executable file on ${SLURMD_NODENAME:-this node}" >&2
  exit 126
fi
exec "$p")";
  std::string script = absl::StrCat(kHead, ShellQuote(program), kChecks);
  for (const std::string& arg : args) absl::StrAppend(&script, " ", ShellQuote(arg));
  absl::StrAppend(&script, "\n");
  return script;
}

absl::StatusOr<std::unique_ptr<SlurmClient>> SlurmClient::Create(SlurmOptions options) {
  if (options.command_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the Slurm command timeout must be positive");
  }
  if (options.max_output_bytes < 4096) {
    return absl::InvalidArgumentError("the Slurm command output limit must be at least 4096 bytes");
  }
  // One squeue argument holds all the ids; Linux caps one argument at 128 KiB.
  if (options.max_ids_per_poll < 1 || options.max_ids_per_poll > 5000) {
    return absl::InvalidArgumentError("the job ids per squeue call must be in 1..5000");
  }
  Tools tools;
  for (auto [name, path] : {std::pair<absl::string_view, std::string*>{"sbatch", &tools.sbatch},
                            {"squeue", &tools.squeue},
                            {"scontrol", &tools.scontrol},
                            {"scancel", &tools.scancel}}) {
    absl::StatusOr<std::string> found = FindTool(options.bin_dir, name);
    if (!found.ok()) return found.status();
    *path = *std::move(found);
  }
  // The tools' whole environment: nothing of the server's leaks into them (SBATCH_* and
  // SQUEUE_* variables would change what they do), and sbatch passes SLURM_* on to the job.
  std::string bin = tools.sbatch.substr(0, tools.sbatch.rfind('/'));
  std::vector<std::string> env = {absl::StrCat("PATH=", bin, ":/usr/bin:/bin"), "LC_ALL=C"};
  if (options.slurm_conf.empty()) {
    if (const char* conf = std::getenv("SLURM_CONF"); conf != nullptr && *conf != '\0') {
      options.slurm_conf = conf;
    }
  }
  if (!options.slurm_conf.empty()) env.push_back(absl::StrCat("SLURM_CONF=", options.slurm_conf));
  return std::unique_ptr<SlurmClient>(
      new SlurmClient(std::move(options), std::move(tools), std::move(env)));
}

SlurmClient::SlurmClient(SlurmOptions options, Tools tools, std::vector<std::string> env)
    : options_(std::move(options)), tools_(std::move(tools)), env_(std::move(env)) {}

absl::StatusOr<JobId> SlurmClient::Submit(const SubmitRequest& request) const {
  if (absl::Status s = CheckRequest(request); !s.ok()) return s;
  Command command;
  command.program = tools_.sbatch;
  command.args = {
      "--parsable", request.requeue ? "--requeue" : "--no-requeue",
      absl::StrCat("--job-name=", request.job_name), absl::StrCat("--chdir=", request.working_dir),
      absl::StrCat("--output=", request.stdout_path), absl::StrCat("--error=", request.stderr_path),
      // The job's whole environment, besides Slurm's own variables: see the header.
      "--export-file=3"};
  if (!request.partition.empty()) command.args.push_back("--partition=" + request.partition);
  if (!request.account.empty()) command.args.push_back("--account=" + request.account);
  if (!request.time_limit.empty()) command.args.push_back("--time=" + request.time_limit);
  command.args.insert(command.args.end(), request.extra_args.begin(), request.extra_args.end());
  std::string environment;
  for (const auto& [name, value] : request.environment) {
    absl::StrAppend(&environment, name, "=", value, absl::string_view("\0", 1));
  }
  command.inputs = {{0, BatchScript(request.program, request.args)}, {3, std::move(environment)}};
  command.env = env_;
  command.timeout = options_.command_timeout;
  command.max_output_bytes = options_.max_output_bytes;
  const std::string what = absl::StrCat("sbatch of job '", request.job_name, "'");
  absl::StatusOr<CommandResult> result = RunCommand(command);
  if (!result.ok()) return ToolDidNotRun(what, result.status());
  if (result->exit_code != 0) return ToolFailed(what, *result);
  absl::StatusOr<JobId> id = ParseSbatchParsable(result->out);
  if (!id.ok()) return absl::InternalError(absl::StrCat(what, ": ", id.status().message(), "."));
  return id;
}

absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> SlurmClient::Poll(
    absl::Span<const JobId> ids) const {
  std::vector<JobId> unique(ids.begin(), ids.end());
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  for (JobId id : unique) {
    if (id <= 0) return absl::InvalidArgumentError(absl::StrCat("'", id, "' is not a job id"));
  }
  absl::flat_hash_map<JobId, JobStatus> states;
  for (size_t begin = 0; begin < unique.size(); begin += options_.max_ids_per_poll) {
    size_t end = std::min(unique.size(), begin + options_.max_ids_per_poll);
    absl::Span<const JobId> chunk(unique.data() + begin, end - begin);
    Command command;
    command.program = tools_.squeue;
    command.args = {"-h", "-t", "all", "-o", "%i|%T", "-j", absl::StrJoin(chunk, ",")};
    command.env = env_;
    command.timeout = options_.command_timeout;
    command.max_output_bytes = options_.max_output_bytes;
    const std::string what = absl::StrCat("squeue of ", chunk.size(), " job(s)");
    absl::StatusOr<CommandResult> result = RunCommand(command);
    if (!result.ok()) return ToolDidNotRun(what, result.status());
    if (result->exit_code != 0) {
      // With one id that Slurm no longer knows, squeue fails ("Invalid job id specified"); with
      // several, it prints those it knows.
      if (chunk.size() == 1 && result->signal == 0 && SaysInvalidJobId(result->err)) continue;
      return ToolFailed(what, *result);
    }
    absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> parsed = ParseSqueue(result->out);
    if (!parsed.ok()) {
      return absl::InternalError(absl::StrCat(what, ": ", parsed.status().message(), "."));
    }
    for (auto& [id, status] : *parsed) {
      if (std::binary_search(chunk.begin(), chunk.end(), id)) states[id] = std::move(status);
    }
  }
  return states;
}

absl::StatusOr<JobOutcome> SlurmClient::Outcome(JobId id) const {
  if (id <= 0) return absl::InvalidArgumentError(absl::StrCat("'", id, "' is not a job id"));
  Command command;
  command.program = tools_.scontrol;
  command.args = {"show", "job", "-o", absl::StrCat(id)};
  command.env = env_;
  command.timeout = options_.command_timeout;
  command.max_output_bytes = options_.max_output_bytes;
  const std::string what = absl::StrCat("scontrol show job ", id);
  absl::StatusOr<CommandResult> result = RunCommand(command);
  if (!result.ok()) return ToolDidNotRun(what, result.status());
  if (result->exit_code == 0) {
    absl::StatusOr<JobOutcome> outcome = ParseScontrolJob(result->out, id);
    if (!outcome.ok()) {
      return absl::InternalError(absl::StrCat(what, ": ", outcome.status().message(), "."));
    }
    return outcome;
  }
  if (result->signal != 0 || !SaysInvalidJobId(result->err)) return ToolFailed(what, *result);

  // scontrol has forgotten the job (MinJobAge after it ended): the jobcomp file has its line.
  const std::string forgotten = absl::StrCat(
      "Slurm does not know job ", id, " any more (scontrol forgets a job MinJobAge after it ends)");
  if (options_.jobcomp_file.empty()) {
    return absl::NotFoundError(absl::StrCat(forgotten, ", and no jobcomp file is configured."));
  }
  int fd = open(options_.jobcomp_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(forgotten, ", and its jobcomp file ", options_.jobcomp_file,
                     " cannot be read: ", std::strerror(errno), "."));
  }
  absl::Cleanup close_fd = [fd] { close(fd); };
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("fstat of ", options_.jobcomp_file, " failed."));
  }
  // From the end backwards, a block at a time: the job's line is near the end unless the job
  // is old. `carry` is the start of a line whose beginning is in an earlier block.
  constexpr size_t kBlock = 1 << 20;
  off_t position = st.st_size;
  size_t scanned = 0;
  std::string carry;
  while (position > 0 && scanned < options_.max_jobcomp_scan_bytes) {
    size_t n = static_cast<size_t>(std::min<off_t>(position, kBlock));
    position -= static_cast<off_t>(n);
    std::string text(n, '\0');
    ssize_t got = pread(fd, text.data(), n, position);
    if (got != static_cast<ssize_t>(n)) {
      return absl::InternalError(absl::StrCat("reading ", options_.jobcomp_file, " failed."));
    }
    scanned += n;
    text += carry;
    std::string_view whole = text;
    if (position > 0) {  // the first line may have begun in the block before
      size_t first_newline = whole.find('\n');
      if (first_newline == std::string_view::npos) {
        carry = std::move(text);
        continue;
      }
      carry = std::string(whole.substr(0, first_newline));
      whole.remove_prefix(first_newline + 1);
    }
    if (std::optional<std::string_view> line = FindJobcompLine(whole, id)) {
      absl::StatusOr<JobOutcome> outcome = ParseJobcompLine(*line, id);
      if (!outcome.ok()) {
        return absl::InternalError(
            absl::StrCat(options_.jobcomp_file, ": ", outcome.status().message(), "."));
      }
      return outcome;
    }
  }
  return absl::NotFoundError(absl::StrCat(forgotten, ", and its jobcomp file ",
                                          options_.jobcomp_file, " has no record of it."));
}

absl::Status SlurmClient::Cancel(JobId id) const {
  if (id <= 0) return absl::InvalidArgumentError(absl::StrCat("'", id, "' is not a job id"));
  Command command;
  command.program = tools_.scancel;
  command.args = {absl::StrCat(id)};
  command.env = env_;
  command.timeout = options_.command_timeout;
  command.max_output_bytes = options_.max_output_bytes;
  const std::string what = absl::StrCat("scancel ", id);
  absl::StatusOr<CommandResult> result = RunCommand(command);
  if (!result.ok()) return ToolDidNotRun(what, result.status());
  if (result->exit_code != 0) return ToolFailed(what, *result);
  return absl::OkStatus();
}

}  // namespace ablate::slurm
