// A job's updates as Server-Sent Events (text/event-stream), written by httplib's chunked
// content provider from a pull-driven JobWatch.
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

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/status/statusor.h"
#include "server/service/service.h"

namespace httplib {
class DataSink;
}

namespace ablate::http {

// One client's stream. Lives on one connection thread of httplib; the watch's callbacks
// arrive on the service's pool and only hand the update over. Memory per client is bounded
// by one JobUpdate: the next is asked for only after the previous one is written, so a slow
// client slows only its own watch, and a client that stops reading is dropped by httplib's
// write timeout.
class EventStream {
 public:
  // How long one Provide call waits for an update before returning to httplib (which checks
  // for server shutdown between calls).
  static constexpr std::chrono::milliseconds kPoll{250};
  // Silence after which a comment is written: keeps proxies from closing an idle stream and
  // notices a closed connection (its write fails).
  static constexpr std::chrono::seconds kHeartbeat{5};

  // Takes the watch. `open_streams` is decremented when the stream is destroyed (the
  // gateway's count of streams in progress); it must outlive the stream.
  EventStream(std::unique_ptr<service::JobWatch> watch, std::atomic<int>& open_streams);
  // Cancels the watch: no callback runs after it returns.
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // httplib's ContentProviderWithoutLength: writes at most one event and returns true, or
  // calls sink.done() after the last; false when the connection can no longer be written.
  bool Provide(httplib::DataSink& sink);

 private:
  bool Write(httplib::DataSink& sink, const std::string& text);

  std::unique_ptr<service::JobWatch> watch_;
  std::atomic<int>& open_streams_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::optional<absl::StatusOr<v1::JobUpdate>> update_;  // guarded by mutex_
  // The rest belongs to the connection thread.
  bool started_ = false;
  bool asked_ = false;  // a Next is pending
  std::chrono::steady_clock::time_point last_write_;
};

}  // namespace ablate::http

#endif  // ABLATE_SERVER_HTTP_EVENT_STREAM_H_
