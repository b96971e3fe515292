#include "client/watch.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/watch_state.h"

namespace ablate::client {
namespace {

std::string Seconds(absl::Duration d) { return absl::StrFormat("%g s", absl::ToDoubleSeconds(d)); }

}  // namespace

// A server going away answers UNAVAILABLE, or CANCELLED for calls that reach it while it
// shuts down; this client never cancels its own calls, so both mean "try again shortly".
bool IsConnectionLoss(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kCancelled;
}

absl::Duration Backoff::Next() {
  next_ = next_ == absl::ZeroDuration() ? initial_ : std::min(next_ * 2, max_);
  return next_;
}

absl::StatusOr<v1::Job> WatchJob(Connection& connection, int64_t job_id,
                                 const WatchOptions& options, ProgressDisplay& display) {
  absl::StatusOr<v1::Job> job = connection.GetJob(job_id);
  if (!job.ok()) return job.status();

  WatchState state(*job);
  display.Begin(state, absl::Now());
  // A job waiting for a worker has no progress to stream yet: say where it stands in the queue
  // until a run of it starts. The stream then begins at cursor 0, so nothing is missed; a
  // failed poll leaves it to the stream, which knows how to wait for a server that went away.
  bool waited = false;
  while (job->state() == v1::JOB_STATE_QUEUED && job->has_runs_ahead()) {
    display.Queued(state, job->runs_ahead(), absl::Now());
    waited = true;
    options.sleep(options.queue_poll_interval);
    job = connection.GetJob(job_id);
    if (!job.ok()) break;
  }
  if (waited) display.Notice(state, "", absl::Now());
  const std::string& server = connection.site().server;
  Backoff backoff(options.initial_backoff, options.max_backoff);
  // Set while the server is away: when it was first found gone.
  std::optional<absl::Time> away_since;

  for (;;) {
    if (away_since.has_value()) {
      // A stream to a server that is not there yet would just fail again; a unary call with a
      // deadline tells "back" from "still away" for sure, and also catches a server that came
      // back without this job (NOT_FOUND).
      absl::StatusOr<v1::Job> probe = connection.GetJob(job_id);
      if (probe.ok()) {
        away_since.reset();
        // Back: the next loss starts waiting from the first step again, whether or not this
        // stream brings an update (a resumed job may be quiet while it replays).
        backoff.Reset();
        display.Notice(
            state,
            absl::StrCat("reconnected to ", server, "; resuming after update ", state.cursor()),
            absl::Now());
      } else if (!IsConnectionLoss(probe.status().code())) {
        display.Abandon(state, absl::Now());
        return probe.status();
      }
    }

    if (!away_since.has_value()) {
      grpc::ClientContext context;  // no deadline: a job may train for hours
      connection.Authorize(context);
      v1::WatchJobRequest request;
      request.set_job_id(job_id);
      request.set_cursor(state.cursor());
      std::unique_ptr<grpc::ClientReaderInterface<v1::JobUpdate>> reader =
          connection.stub().WatchJob(&context, request);
      v1::JobUpdate update;
      bool got_update = false;
      while (reader->Read(&update)) {
        got_update = true;
        backoff.Reset();
        if (absl::Status applied = state.Apply(update); !applied.ok()) {
          context.TryCancel();
          (void)reader->Finish();
          display.Abandon(state, absl::Now());
          return applied;
        }
        for (const std::string& notice : state.TakeNotices()) {
          display.Notice(state, notice, absl::Now());
        }
        if (state.finished()) {
          // The server ends the stream after job_finished; cancelling spares a wait on a
          // server that does not.
          context.TryCancel();
          (void)reader->Finish();
          display.Finish(state, absl::Now());
          return state.final_job();
        }
        display.Update(state, absl::Now());
      }
      const grpc::Status status = reader->Finish();
      if (status.ok() && !got_update) {
        display.Abandon(state, absl::Now());
        return absl::InternalError(
            absl::StrCat("the server ended the watch of job ", job_id,
                         " before the job finished (a server bug: please report it)"));
      }
      if (!status.ok() && !IsConnectionLoss(static_cast<absl::StatusCode>(status.error_code()))) {
        display.Abandon(state, absl::Now());
        return connection.Describe(status);
      }
      // A lost connection, or a stream that ended early after some progress: resume from the
      // cursor.
      away_since = absl::Now();
      display.Notice(state,
                     absl::StrCat("lost the connection to ", server, "; reconnecting for up to ",
                                  Seconds(options.reconnect_timeout)),
                     absl::Now());
    }

    const absl::Duration away = absl::Now() - *away_since;
    if (away >= options.reconnect_timeout) {
      display.Abandon(state, absl::Now());
      return absl::UnavailableError(absl::StrCat("lost the connection to the Ablate server at ",
                                                 server, " and could not reconnect within ",
                                                 Seconds(options.reconnect_timeout),
                                                 "; resume with: ablate watch ", job_id));
    }
    options.sleep(std::min(backoff.Next(), options.reconnect_timeout - away));
  }
}

}  // namespace ablate::client
