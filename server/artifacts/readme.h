// README.md: the lab's interpretation (Block D), written from one job's data. Every number in it
// is the manifest's, formatted the same way (losses as their shortest float32 decimal,
// derived quantities to three significant digits), and every sentence says only what the data
// shows: a job without a xavier run says so instead of answering question 3.
//
// Sections: what was trained (model, data, optimizer, seeds); what happened (each run's
// outcome, the figure's scale and clipping, the lab's expected outcome); the four answers
// ((1) uniform's first NaN or saturation, (2) Xavier's final loss against Kaiming's, (3)
// Xavier's slope over the last 200 steps and whether that is training, (4) a prediction for
// twice the depth from each init's per-layer ReLU variance gain); the Pitfalls checks that
// fired and the host warning; a provenance line.
#ifndef ABLATE_SERVER_ARTIFACTS_README_H_
#define ABLATE_SERVER_ARTIFACTS_README_H_

#include <string>

#include "server/artifacts/build_info.h"
#include "server/artifacts/host.h"
#include "server/artifacts/plot.h"
#include "server/artifacts/summary.h"

namespace ablate::artifacts {

// `plot` is the headline figure's layout.
std::string RenderReadme(const JobSummary& summary, const PlotLayout& plot, const HostInfo& host,
                         const BuildInfo& build);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_README_H_
