// A job's updates as Server-Sent Events (text/event-stream), pushed from a pull-driven JobWatch
// into a server's ResponseStream.
//
// The stream (https://html.spec.whatwg.org/multipage/server-sent-events.html):
//   retry: 2000                        once, first: the browser's reconnection delay in ms
//   id: <cursor>                       per JobUpdate: WatchJob's resume cursor, which the
//   data: <JobUpdate as JSON>          browser sends back as Last-Event-ID when it reconnects
//   : keep-alive                       a comment after kHeartbeat without an update
//   event: error                       instead of an update when the watch fails; then the end
//   data: {"error": {...}}
// and the response ends right after the update that carries job_finished (the client should
// then close its EventSource, or it would reconnect and be told again that the job ended).
#ifndef ABLATE_SERVER_HTTP_EVENT_STREAM_H_
#define ABLATE_SERVER_HTTP_EVENT_STREAM_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "server/http/http_server.h"
#include "server/service/service.h"

namespace ablate::http {

// One client's stream. Holds no thread: the watch's callbacks arrive on the service's pool,
// where the update is written as JSON and handed to the connection. Memory per client is
// bounded by one JobUpdate: the next is asked for only after the previous one has been taken
// by the client, so a slow client slows only its own watch, and one that stops reading is
// dropped by the server's write timeout.
class EventStream : public std::enable_shared_from_this<EventStream> {
 public:
  // Silence after which a comment is written: keeps proxies from closing an idle stream and
  // notices a closed connection (its write fails).
  static constexpr std::chrono::seconds kHeartbeat{5};
  // What the server writes after kHeartbeat of silence (StreamOptions::heartbeat).
  static StreamOptions Options();

  // Starts feeding `out` from `watch` and returns at once. `on_end` runs once, on an I/O
  // thread, when the stream has ended for any reason, after the watch is cancelled (no
  // callback of it runs after that).
  static std::shared_ptr<EventStream> Start(std::unique_ptr<service::JobWatch> watch,
                                            std::shared_ptr<ResponseStream> out,
                                            std::function<void()> on_end);

  // Ends the stream from outside, as if the client had gone. Thread-safe, idempotent.
  void End();
  // Ends it with an error event saying `why` (a revoked token). Thread-safe.
  void End(const absl::Status& why);

  EventStream(std::unique_ptr<service::JobWatch> watch, std::shared_ptr<ResponseStream> out,
              std::function<void()> on_end);
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

 private:
  void Ask();
  void Deliver(absl::StatusOr<service::UpdatePtr> update);
  void Finish();

  const std::unique_ptr<service::JobWatch> watch_;
  const std::shared_ptr<ResponseStream> out_;
  std::function<void()> on_end_;  // touched only by Finish, which the server runs once
};

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_EVENT_STREAM_H_
