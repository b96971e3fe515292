// Parsers of the Slurm command-line tools' output, as the driver asks for it. Pure functions on
// text, tested against output captured from Slurm 22.05 (tests/server/slurm/testdata/).
#ifndef ABLATE_SERVER_SLURM_PARSE_H_
#define ABLATE_SERVER_SLURM_PARSE_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/slurm/job_state.h"

namespace ablate::slurm {

// `sbatch --parsable` prints "ID" or "ID;CLUSTER" and a newline. Returns ID; InvalidArgument
// with the text quoted when it is not that.
absl::StatusOr<JobId> ParseSbatchParsable(std::string_view out);

// `squeue -h -o '%i|%T'` prints one "ID|STATE" line per job. Returns the jobs by id;
// InvalidArgument naming the first line that is not of that form.
absl::StatusOr<absl::flat_hash_map<JobId, JobStatus>> ParseSqueue(std::string_view out);

// The Key=Value fields of one job's record as `scontrol show job -o` and the jobcomp/filetxt
// plugin write it: space-separated; a value may itself hold spaces (a word without '=' goes on
// the value before it). The first occurrence of a key wins: the fields the driver reads come
// before the free-form ones (WorkDir, StdOut, ...) in both formats.
absl::flat_hash_map<std::string, std::string> ParseRecord(std::string_view line);

// The outcome of job `id` from `scontrol show job -o ID` output (one line per job; the one
// whose JobId is `id`). InvalidArgument when there is no such line or its JobState or ExitCode
// cannot be read.
absl::StatusOr<JobOutcome> ParseScontrolJob(std::string_view out, JobId id);

// The same from a jobcomp/filetxt record line ("JobId=ID UserId=... JobState=... ExitCode=N:S").
absl::StatusOr<JobOutcome> ParseJobcompLine(std::string_view line, JobId id);

// The last line of jobcomp/filetxt text `text` that is about job `id` (a requeued job has one
// line per run, the last is the latest), without its newline; nullopt if none.
std::optional<std::string_view> FindJobcompLine(std::string_view text, JobId id);

// True when a squeue or scontrol error says that Slurm does not know the job id.
bool SaysInvalidJobId(std::string_view err);

}  // namespace ablate::slurm

#endif  // ABLATE_SERVER_SLURM_PARSE_H_
