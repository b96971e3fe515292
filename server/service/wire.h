// The one mapping between the store's records (server/store/records.h) and the wire schema's
// messages (proto/ablate/v1/ablate.proto). Everything that answers or reads the API in v1 terms
// (the service, the job manager, the artifacts, the Slurm executor) goes through here, so a
// change to either side is made once.
//
// Times: the store keeps whole milliseconds; a Timestamp given to the store is rounded down
// to one (RunSummaryFromProto), a ListJobs bound up (see store::JobQuery).
#ifndef ABLATE_SERVER_SERVICE_WIRE_H_
#define ABLATE_SERVER_SERVICE_WIRE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/job_store.h"
#include "server/store/records.h"

namespace ablate::wire {

// --- States: UNSPECIFIED and values outside the enum map to kUnspecified, and back. ----------
v1::JobState StateToProto(store::JobState state);
v1::RunState StateToProto(store::RunState state);
store::JobState StateFromProto(v1::JobState state);
store::RunState StateFromProto(v1::RunState state);

// --- Records to messages ----------------------------------------------------------------------
v1::EvalResult EvalToProto(const store::EvalRecord& eval);
// A run's summary; its spec holds what the run's row keeps (init, weight seed, uniform bounds).
v1::Run RunToProto(const store::RunRecord& run);
// DataLoss, naming the job, when its spec's bytes are not a JobSpec.
absl::StatusOr<v1::Job> JobToProto(const store::JobRecord& job);
absl::StatusOr<v1::JobUpdate> UpdateToProto(const store::StoredUpdate& update);

// --- Messages to what the store takes ---------------------------------------------------------
// What JobStore::CreateJob stores for a resolved spec: its bytes, its JSON view, and the columns
// the store indexes. InvalidArgument when it cannot be serialised.
absl::StatusOr<store::NewJob> NewJobFromSpec(const v1::JobSpec& spec);
// A run's record from its message: the summary a RunFinishedEvent carries (RunToProto's
// inverse, up to whole milliseconds).
store::RunRecord RunSummaryFromProto(const v1::Run& run);
// ListJobs' filters. A zero Timestamp (the Unix epoch) is no bound: "created before 1970"
// cannot be meant, and clients that touch mutable_created_before() send exactly that.
// InvalidArgument for a state that is not one, or a Timestamp's nanos outside 0–999999999.
absl::StatusOr<store::JobQuery> QueryFromProto(const v1::ListJobsRequest& request);

// --- The job store's reads and CreateJob, in v1 terms (their errors are the store's) ---------
absl::StatusOr<v1::Job> CreateJob(store::JobStore& store, const v1::JobSpec& spec,
                                  const std::string& owner, absl::Time now,
                                  std::optional<int64_t> class_id = std::nullopt);
absl::StatusOr<v1::Job> GetJob(store::JobStore& store, int64_t job_id);
absl::StatusOr<v1::Run> GetRun(store::JobStore& store, int64_t run_id);
absl::StatusOr<v1::ListJobsResponse> ListJobs(store::JobStore& store,
                                              const v1::ListJobsRequest& request,
                                              std::optional<int64_t> class_id = std::nullopt);
absl::StatusOr<v1::JobUpdate> ReadUpdate(store::JobStore& store, int64_t job_id, uint64_t after,
                                         int max_events);

}  // namespace ablate::wire

#endif  // ABLATE_SERVER_SERVICE_WIRE_H_
