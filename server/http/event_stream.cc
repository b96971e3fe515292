#include "server/http/event_stream.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/http/mapping.h"
// Last: its <resolv.h> defines the macro `_res`, which breaks headers (Eigen's) included after it.
#include "httplib.h"

namespace ablate::http {

namespace {

// The browser waits this long before reconnecting a dropped stream.
constexpr int kRetryMillis = 2000;

}  // namespace

EventStream::EventStream(std::unique_ptr<service::JobWatch> watch, std::atomic<int>& open_streams)
    : watch_(std::move(watch)), open_streams_(open_streams) {}

EventStream::~EventStream() {
  watch_->Cancel();
  open_streams_.fetch_sub(1);
}

bool EventStream::Write(httplib::DataSink& sink, const std::string& text) {
  last_write_ = std::chrono::steady_clock::now();
  return sink.write(text.data(), text.size());
}

bool EventStream::Provide(httplib::DataSink& sink) {
  if (!started_) {
    started_ = true;
    if (!Write(sink, absl::StrCat("retry: ", kRetryMillis, "\n\n"))) return false;
  }
  if (!asked_) {
    asked_ = true;
    // The callback only hands the update over: Cancel (in the destructor) waits for a running
    // callback, so `this` outlives every call.
    watch_->Next([this](absl::StatusOr<v1::JobUpdate> update) {
      std::lock_guard lock(mutex_);
      update_ = std::move(update);
      arrived_.notify_one();
    });
  }

  std::optional<absl::StatusOr<v1::JobUpdate>> update;
  {
    std::unique_lock lock(mutex_);
    if (!arrived_.wait_for(lock, kPoll, [this] { return update_.has_value(); })) {
      lock.unlock();
      if (std::chrono::steady_clock::now() - last_write_ >= kHeartbeat) {
        return Write(sink, ": keep-alive\n\n");
      }
      return true;  // httplib calls again unless the server is stopping
    }
    update.swap(update_);
  }
  asked_ = false;

  if (!update->ok()) {
    Write(sink, absl::StrCat("event: error\ndata: ", ErrorJson(update->status()), "\n\n"));
    sink.done();
    return true;
  }
  const v1::JobUpdate& u = **update;
  if (!Write(sink, absl::StrCat("id: ", u.cursor(), "\ndata: ", MessageToJson(u), "\n\n"))) {
    return false;
  }
  if (u.has_job_finished()) sink.done();
  return true;
}

}  // namespace ablate::http
