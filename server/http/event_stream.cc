#include "server/http/event_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/http/mapping.h"

namespace ablate::http {

namespace {

// The browser waits this long before reconnecting a dropped stream.
constexpr int kRetryMillis = 2000;

std::string UpdateFrame(const v1::JobUpdate& update) {
  return absl::StrCat("id: ", update.cursor(), "\ndata: ", MessageToJson(update), "\n\n");
}

std::string ErrorFrame(const absl::Status& status) {
  return absl::StrCat("event: error\ndata: ", ErrorJson(status), "\n\n");
}

}  // namespace

StreamOptions EventStream::Options() {
  return StreamOptions{.heartbeat = ": keep-alive\n\n",
                       .heartbeat_after = std::chrono::milliseconds(kHeartbeat)};
}

EventStream::EventStream(std::unique_ptr<service::JobWatch> watch,
                         std::shared_ptr<ResponseStream> out, std::function<void()> on_end)
    : watch_(std::move(watch)), out_(std::move(out)), on_end_(std::move(on_end)) {}

std::shared_ptr<EventStream> EventStream::Start(std::unique_ptr<service::JobWatch> watch,
                                                std::shared_ptr<ResponseStream> out,
                                                std::function<void()> on_end) {
  auto stream = std::make_shared<EventStream>(std::move(watch), out, std::move(on_end));
  // The connection holds the stream until it ends; the watch's callbacks hold it only weakly,
  // so a stream whose client is gone is released without waiting for its job's next step.
  out->OnEnd([stream] { stream->Finish(); });
  out->Write(absl::StrCat("retry: ", kRetryMillis, "\n\n"),
             [weak = std::weak_ptr<EventStream>(stream)](bool written) {
               auto self = weak.lock();
               if (written && self != nullptr) self->Ask();
             });
  return stream;
}

void EventStream::Ask() {
  watch_->Next([weak = weak_from_this()](absl::StatusOr<service::UpdatePtr> update) {
    if (auto self = weak.lock()) self->Deliver(std::move(update));
  });
}

void EventStream::Deliver(absl::StatusOr<service::UpdatePtr> update) {
  if (!update.ok()) return End(update.status());
  const service::SharedUpdate& u = **update;
  const bool last = u.finished();
  // A frame is made once per update, by whichever of the job's watchers comes first. A watcher
  // that fell behind gets the updates it missed as their own events, one write for all: their
  // frames are shared with every other watcher, where a merged event would be encoded for
  // this watcher's cursor alone.
  std::string frames;
  if (u.parts().empty()) {
    frames = u.Encoded(UpdateFrame);
  } else {
    for (const service::UpdatePtr& part : u.parts()) frames += part->Encoded(UpdateFrame);
  }
  out_->Write(std::move(frames),
              [weak = weak_from_this(), last](bool written) {
                auto self = weak.lock();
                if (!written || self == nullptr || last) return;
                self->Ask();
              });
  if (last) out_->End();
}

void EventStream::End() { out_->End(); }

void EventStream::End(const absl::Status& why) {
  out_->Write(ErrorFrame(why), nullptr);
  out_->End();
}

void EventStream::Finish() {
  watch_->Cancel();
  if (on_end_) {
    auto on_end = std::move(on_end_);
    on_end_ = nullptr;
    on_end();
  }
}

}  // namespace ablate::http
