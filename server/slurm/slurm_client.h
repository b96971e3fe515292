// A driver of Slurm's command-line tools (sbatch, squeue, scontrol, scancel), as services
// usually drive Slurm: each call spawns the tool without a shell (server/slurm/subprocess.h),
// with an explicit, minimal environment, a timeout, its stderr captured, and its failure turned
// into an absl::Status with one sentence naming the command and what Slurm said. Not libslurm
// (GPL, and its ABI changes with every release) and not `squeue --json` (on 22.05 it ignores
// every filter): the tools' text output is the stable interface across Slurm versions.
//
// Passing a secret to a job (SubmitRequest::environment)
// ------------------------------------------------------
// The job's environment is handed to sbatch as `--export-file=3`, descriptor 3 being an
// anonymous in-memory file that holds "NAME=value\0" records. Verified on Slurm 22.05.8 (one
// node, as root and as an ordinary user; tests/server/slurm/slurm_live_test.cc checks it):
// - No value is on a command line: sbatch's is "sbatch --parsable ... --export-file=3"; inside
//   the job, the processes are "slurmstepd: [ID.batch]" and the program with its arguments.
// - No value is in sbatch's own environment either (it gets PATH, LC_ALL, SLURM_CONF only).
// - `scontrol show job -dd ID` and `squeue -o %all` do not show the job's environment. Slurm
//   keeps it in StateSaveLocation/hash.N/job.ID/environment (mode 0600, the SlurmUser's) and
//   sends it, munge-signed but not encrypted, to the node; there the job's /proc/PID/environ is
//   readable by the job's user and root only. Treat the cluster's own network as trusted, as
//   Slurm does, and have the program drop the variable (unsetenv) once it has read it.
// - The job's environment is exactly those variables plus Slurm's own (SLURM_*, and
//   ENVIRONMENT, HOSTNAME, PWD, TMPDIR): not the server's and not the user's login environment.
// The alternatives measured worse: `--export=NONE` makes slurmd, when it runs as root, load the
// user's login environment (`su - USER`; SLURM_GET_USER_ENV=1), so the job's environment then
// depends on the node's dotfiles, and it cannot carry variables at all (combined with
// --export-file, the file's variables are dropped); `--export=NAME` with the value in sbatch's
// environment works but loads that same login environment; a mode-0600 file whose path is
// passed needs a file system shared between the server and every node.
//
// What runs on the node
// ---------------------
// sbatch wants a script starting with "#!", so the driver hands it (on stdin) a /bin/sh script
// that checks the program, then `exec`s it with its arguments, each single-quoted: the program
// replaces the shell, so it receives scancel's signals itself and its exit status is the
// job's. When the program does not exist on the node the script exits with 127
// (kExitProgramMissing), when it is not an executable file with 126, and says so on stderr;
// JobOutcome::Describe() turns those into a sentence.
#ifndef ABLATE_SERVER_SLURM_SLURM_CLIENT_H_
#define ABLATE_SERVER_SLURM_SLURM_CLIENT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/slurm/job_state.h"

namespace ablate::slurm {

struct SlurmOptions {
  // Directory holding sbatch, squeue, scontrol and scancel. Empty: the first directory of the
  // server's PATH that has them, else /usr/bin.
  std::string bin_dir;
  // SLURM_CONF for the tools (which slurm.conf names the cluster). Empty: the server's own
  // SLURM_CONF if it has one, else Slurm's default (/etc/slurm/slurm.conf).
  std::string slurm_conf;
  // Each tool that runs longer is killed and the call fails with DeadlineExceeded. The tools
  // answer in about 10 ms; a busy or unreachable controller makes them retry for a while.
  absl::Duration command_timeout = absl::Seconds(30);
  // Bytes of a tool's stdout (and of its stderr) kept; more fails the call.
  size_t max_output_bytes = 16 << 20;
  // Job ids per squeue call in Poll(); more ids make several calls.
  size_t max_ids_per_poll = 1000;
  // The jobcomp/filetxt file (slurm.conf JobCompLoc), if this machine can read it: Outcome()
  // looks there once scontrol has forgotten a job (MinJobAge after it ended). Empty: not used.
  std::string jobcomp_file;
  // Bytes read from the end of jobcomp_file when looking for a job; older records are not found.
  size_t max_jobcomp_scan_bytes = 64 << 20;
};

// One job to submit: one program, run once on one node.
struct SubmitRequest {
  // Absolute path of the program on the nodes (checked there, not here).
  std::string program;
  // Its arguments, each one argument. They appear on the node's process list and in the job's
  // script (which its owner and root can read back): never put a secret here.
  std::vector<std::string> args;
  // --job-name: 1-128 characters of A-Z a-z 0-9 . _ -
  std::string job_name;
  // --chdir, --output, --error: absolute paths on the nodes, without whitespace or control
  // characters. Slurm expands %j (job id), %x (job name) and the other filename patterns of
  // `man sbatch` in output and error; write %% for a literal %.
  std::string working_dir;
  std::string stdout_path;
  std::string stderr_path;
  // --partition, --account, --time; empty: the cluster's default. Passed as given, each as
  // one argument; Slurm checks them.
  std::string partition;
  std::string account;
  std::string time_limit;
  // More sbatch options, each one argument, after the driver's own (e.g. "--mem=2G",
  // "--qos=class"). Options that the driver sets or that would change how the job's
  // environment, script or output are handled are refused (--export, --wrap, --chdir, ...).
  std::vector<std::string> extra_args;
  // The job's environment besides Slurm's own variables, by name: this is how a secret
  // reaches the job (see the file comment). Names are [A-Za-z_][A-Za-z0-9_]*, not SLURM_*;
  // values hold no NUL.
  std::vector<std::pair<std::string, std::string>> environment;
  // Whether Slurm may requeue the job by itself after a node failure. Off (--no-requeue): a
  // failed job is reported as failed, and the caller decides whether to submit it again.
  bool requeue = false;
};

class SlurmClient {
 public:
  // Finds the tools (FailedPrecondition naming the one missing and where it was looked for)
  // and checks the options (InvalidArgument). Does not contact Slurm.
  static absl::StatusOr<std::unique_ptr<SlurmClient>> Create(SlurmOptions options);

  // Submits one job with `sbatch --parsable`; returns its id. InvalidArgument (with the field)
  // for a bad request; Slurm's refusal (e.g. an unknown partition) and unreachable controller
  // as below.
  absl::StatusOr<JobId> Submit(const SubmitRequest& request) const;

  // The states of the given jobs from `squeue -h -t all -o '%i|%T' -j IDS` (one call per
  // max_ids_per_poll ids). Jobs that Slurm no longer knows (MinJobAge after they ended, or
  // never) are absent from the map: ask Outcome() about them.
  absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> Poll(absl::Span<const JobId> ids) const;

  // Where job `id` is or how it ended, from `scontrol show job -o ID`, or from the jobcomp file
  // once scontrol has forgotten it. NotFound when neither knows the job.
  absl::StatusOr<JobOutcome> Outcome(JobId id) const;

  // `scancel ID`: asks Slurm to end the job (SIGTERM to the program, SIGKILL after the
  // cluster's KillWait). OK also when the job has already ended or is unknown: Slurm's scancel
  // reports no error for either. Poll() shows when it has ended (CANCELLED).
  absl::Status Cancel(JobId id) const;

  // Every error from a tool is one of: DeadlineExceeded (killed at command_timeout),
  // Unavailable (Slurm's controller could not be reached), FailedPrecondition (Slurm refused;
  // the sentence quotes it), ResourceExhausted (output over max_output_bytes).
  //
  // Thread-safe: every call runs its own process; the object is immutable after Create().

  const SlurmOptions& options() const { return options_; }

 private:
  struct Tools {
    std::string sbatch, squeue, scontrol, scancel;
  };
  SlurmClient(SlurmOptions options, Tools tools, std::vector<std::string> env);

  SlurmOptions options_;
  Tools tools_;
  std::vector<std::string> env_;  // the tools' environment
};

// The /bin/sh script that runs `program` with `args` (exposed for tests).
std::string BatchScript(const std::string& program, const std::vector<std::string>& args);

}  // namespace ablate::slurm

#endif  // ABLATE_SERVER_SLURM_SLURM_CLIENT_H_
