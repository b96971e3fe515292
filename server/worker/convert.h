// The core's run description and results in the worker protocol's messages
// (proto/ablate/worker/v1/worker.proto), and back: field for field, so that a run trained by a
// worker is given exactly the configuration the server holds, and reports exactly its results.
#ifndef ABLATE_SERVER_WORKER_CONVERT_H_
#define ABLATE_SERVER_WORKER_CONVERT_H_

#include "ablate/worker/v1/worker.pb.h"
#include "core/config.h"
#include "core/trainer.h"

namespace ablate::worker {

v1::Experiment ToProto(const core::ExperimentConfig& config);
core::ExperimentConfig FromProto(const v1::Experiment& experiment);

v1::Init ToProto(const core::InitConfig& init);
core::InitConfig FromProto(const v1::Init& init);

v1::Outcome ToProto(const core::RunResult& result);
core::RunResult FromProto(const v1::Outcome& outcome);

}  // namespace ablate::worker

#endif  // ABLATE_SERVER_WORKER_CONVERT_H_
