#include "server/rpc/grpc_service.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/auth/token.h"

namespace ablate::rpc {

// The sweeper calls TryCancel holding the call's mutex, so that the call cannot end on another
// thread meanwhile (its context would go with it). The mutex is recursive because gRPC may run
// the call's reactions, OnDone among them, on the sweeper's own thread within TryCancel.
struct StalledWrites::Call {
  std::recursive_mutex mutex;
  grpc::CallbackServerContext* context;  // null once the call has ended
  bool writing = false;
  std::chrono::steady_clock::time_point started;
};

StalledWrites::StalledWrites(std::chrono::milliseconds timeout)
    : timeout_(timeout), sweeper_([this] { Sweep(); }) {}

StalledWrites::~StalledWrites() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  sweeper_.join();
}

std::shared_ptr<StalledWrites::Call> StalledWrites::Add(grpc::CallbackServerContext* context) {
  auto call = std::make_shared<Call>();
  call->context = context;
  absl::MutexLock lock(&mutex_);
  calls_.insert(call);
  return call;
}

void StalledWrites::Started(Call& call) {
  std::lock_guard lock(call.mutex);
  call.writing = true;
  call.started = std::chrono::steady_clock::now();
}

void StalledWrites::Finished(Call& call) {
  std::lock_guard lock(call.mutex);
  call.writing = false;
}

void StalledWrites::Ended(const std::shared_ptr<Call>& call) {
  {
    std::lock_guard lock(call->mutex);
    call->context = nullptr;
  }
  absl::MutexLock lock(&mutex_);
  calls_.erase(call);
}

// Looks a few times per timeout; never holds mutex_ while it cancels.
void StalledWrites::Sweep() {
  const absl::Duration look = absl::FromChrono(std::max<std::chrono::milliseconds>(
      std::chrono::milliseconds(10),
      std::min<std::chrono::milliseconds>(timeout_ / 4, std::chrono::seconds(1))));
  for (;;) {
    std::vector<std::shared_ptr<Call>> calls;
    {
      absl::MutexLock lock(&mutex_);
      mutex_.AwaitWithTimeout(absl::Condition(&stopping_), look);
      if (stopping_) return;
      calls.assign(calls_.begin(), calls_.end());
    }
    const auto now = std::chrono::steady_clock::now();
    for (const std::shared_ptr<Call>& call : calls) {
      std::lock_guard lock(call->mutex);
      if (call->context == nullptr || !call->writing || now - call->started < timeout_) continue;
      call->writing = false;
      call->context->TryCancel();
    }
  }
}

namespace {

constexpr size_t kArtifactChunkBytes = 64 * 1024;

// The bearer token of the call's "authorization" metadata; empty when there is none.
std::string TokenOf(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  return std::string(auth::BearerToken(std::string_view(it->second.data(), it->second.size())));
}

// Authenticates the call and runs `call(caller)` on the pool (the token lookup reads the
// store), then finishes the unary reactor with its result; `fill` copies a successful result
// into the response.
template <typename Call, typename Fill>
grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* context,
                                  service::AblationService& service, service::ThreadPool& pool,
                                  Call call, Fill fill) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool.Post([reactor, &service, token = TokenOf(context), call = std::move(call),
             fill = std::move(fill)]() mutable {
    absl::StatusOr<auth::Caller> caller = service.Authenticate(token);
    if (!caller.ok()) {
      reactor->Finish(ToGrpcStatus(caller.status()));
      return;
    }
    auto result = call(*caller);
    if (!result.ok()) {
      reactor->Finish(ToGrpcStatus(result.status()));
      return;
    }
    fill(*std::move(result));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace

// Streams a job's updates: one write in flight; each OnWriteDone asks the watch for the next
// update, which starts the next write. Finish is called once, never with a write in flight.
//
// Nothing blocks a gRPC thread: the constructor only posts Start to the service's pool, which
// authenticates, admits the stream (stream_limits.h) and opens the watch (store reads). The
// reactor joins the service's open streams only once its watch is set, so End, called from
// EndStreams or the token re-check, always finds it.
class WatchReactor final : public grpc::ServerWriteReactor<v1::JobUpdate> {
 public:
  static inline const grpc::Status kShuttingDown{
      grpc::StatusCode::UNAVAILABLE,
      "the server is shutting down; reconnect and resume from your last cursor"};

  WatchReactor(GrpcService& owner, std::string token, v1::WatchJobRequest request)
      : owner_(owner), handle_(std::make_shared<Handle>(this)) {
    owner_.pool_.Post([this, token = std::move(token), request = std::move(request)] {
      Start(token, request);
    });
  }

  // Ends the stream with `status` (UNAVAILABLE on shutdown, UNAUTHENTICATED for a revoked
  // token). Called with the owner's streams_mutex_ or the handle's mutex held.
  void End(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mutex_) {
    watch_->Cancel();  // set before the reactor could be reached; waits out a delivery
    absl::MutexLock lock(&mutex_);
    if (ending_ || finished_) return;
    ending_ = true;
    end_status_ = status;
    if (!writing_) FinishLocked(status);
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mutex_);
      writing_ = false;
      update_ = nullptr;
      if (ending_) {
        return FinishLocked(end_status_);
      } else if (!ok || cancelled_) {
        return FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed"));
      } else if (last_) {
        return FinishLocked(grpc::Status::OK);
      }
    }
    RequestNext();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mutex_);
      cancelled_ = true;
      if (!started_) return;  // Start sees it and finishes
    }
    if (watch_) watch_->Cancel();  // outside the lock: it waits for a delivery in progress
    absl::MutexLock lock(&mutex_);
    if (!writing_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled"));
    }
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&handle_->mutex);
      handle_->reactor = nullptr;
    }
    {
      absl::MutexLock lock(&owner_.streams_mutex_);
      owner_.streams_.erase(this);
    }
    if (ticket_ != 0) owner_.service_.Streams().Release(ticket_);
    delete this;
  }

 private:
  // How the token re-check reaches the reactor: valid until OnDone.
  struct Handle {
    explicit Handle(WatchReactor* reactor) : reactor(reactor) {}
    absl::Mutex mutex;
    WatchReactor* reactor ABSL_GUARDED_BY(mutex);
  };

  // On the pool.
  void Start(const std::string& token, const v1::WatchJobRequest& request) {
    service::AblationService& service = owner_.service_;
    absl::StatusOr<auth::Caller> caller = service.Authenticate(token);
    if (!caller.ok()) return FinishEarly(ToGrpcStatus(caller.status()));
    absl::StatusOr<uint64_t> ticket = service.Streams().Admit(*caller, token);
    if (!ticket.ok()) return FinishEarly(ToGrpcStatus(ticket.status()));
    ticket_ = *ticket;  // released by OnDone
    absl::StatusOr<std::unique_ptr<service::JobWatch>> watch = service.WatchJob(*caller, request);
    if (!watch.ok()) return FinishEarly(ToGrpcStatus(watch.status()));
    {
      absl::MutexLock lock(&mutex_);
      watch_ = *std::move(watch);
      started_ = true;
      if (cancelled_) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled"));
        return;
      }
    }
    {
      absl::MutexLock lock(&owner_.streams_mutex_);
      if (owner_.ending_) {
        absl::MutexLock own(&mutex_);
        FinishLocked(kShuttingDown);
        return;
      }
      owner_.streams_.insert(this);
    }
    service.Streams().Attach(ticket_, [handle = handle_](const absl::Status& why) {
      absl::MutexLock lock(&handle->mutex);
      if (handle->reactor != nullptr) handle->reactor->End(ToGrpcStatus(why));
    });
    RequestNext();
  }

  void FinishEarly(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    started_ = true;
    FinishLocked(status);
  }

  void RequestNext() {
    watch_->Next([this](absl::StatusOr<service::UpdatePtr> update) {
      absl::MutexLock lock(&mutex_);
      if (finished_ || cancelled_ || ending_) return;
      if (!update.ok()) {
        FinishLocked(ToGrpcStatus(update.status()));
        return;
      }
      update_ = *std::move(update);  // shared with the job's other watchers; immutable
      last_ = update_->update().has_job_finished();
      writing_ = true;
      StartWrite(&update_->update());
    });
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  GrpcService& owner_;
  const std::shared_ptr<Handle> handle_;
  uint64_t ticket_ = 0;  // set by Start before any Finish, read by OnDone after it
  std::unique_ptr<service::JobWatch> watch_;  // set under mutex_ before the reactor is shared
  absl::Mutex mutex_;
  service::UpdatePtr update_ ABSL_GUARDED_BY(mutex_);  // the write in flight
  grpc::Status end_status_ ABSL_GUARDED_BY(mutex_);
  bool started_ ABSL_GUARDED_BY(mutex_) = false;  // Start has decided
  bool last_ ABSL_GUARDED_BY(mutex_) = false;
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mutex_) = false;
  bool ending_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
};

namespace {

// Streams one file in chunks; the first carries its metadata. The file is read on the pool.
class ArtifactReactor final : public grpc::ServerWriteReactor<v1::ArtifactChunk> {
 public:
  ArtifactReactor(service::AblationService& service, service::ThreadPool& pool,
                  grpc::CallbackServerContext* context, StalledWrites& stalls, std::string token,
                  v1::GetArtifactRequest request)
      : stalls_(stalls), call_(stalls.Add(context)) {
    pool.Post([this, &service, token = std::move(token), request = std::move(request)] {
      absl::StatusOr<auth::Caller> caller = service.Authenticate(token);
      absl::StatusOr<std::shared_ptr<const service::HeldArtifact>> held =
          caller.ok() ? service.GetArtifact(*caller, request) : caller.status();
      if (!held.ok()) {
        Finish(ToGrpcStatus(held.status()));
        return;
      }
      held_ = *std::move(held);
      const store::Artifact& artifact = held_->artifact();
      chunk_.set_name(artifact.name);
      chunk_.set_content_type(artifact.content_type);
      chunk_.set_size(static_cast<int64_t>(artifact.data.size()));
      chunk_.set_sha256(artifact.sha256);
      WriteNext();
    });
  }

  void OnWriteDone(bool ok) override {
    StalledWrites::Finished(*call_);
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed"));
      return;
    }
    chunk_.Clear();
    if (offset_ >= held_->artifact().data.size()) {
      Finish(grpc::Status::OK);
      return;
    }
    WriteNext();
  }

  void OnDone() override {
    stalls_.Ended(call_);
    delete this;
  }

 private:
  void WriteNext() {
    const std::string& data = held_->artifact().data;
    const size_t n = std::min(kArtifactChunkBytes, data.size() - offset_);
    chunk_.set_data(data.substr(offset_, n));
    offset_ += n;
    StalledWrites::Started(*call_);
    StartWrite(&chunk_);
  }

  StalledWrites& stalls_;
  const std::shared_ptr<StalledWrites::Call> call_;
  std::shared_ptr<const service::HeldArtifact> held_;  // shared with the file's other downloads
  v1::ArtifactChunk chunk_;
  size_t offset_ = 0;
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

grpc::ServerUnaryReactor* GrpcService::SubmitJob(grpc::CallbackServerContext* context,
                                                 const v1::SubmitJobRequest* request,
                                                 v1::SubmitJobResponse* response) {
  return Offload(
      context, service_, pool_,
      [this, request](const auth::Caller& caller) { return service_.SubmitJob(caller, *request); },
      [response](v1::Job job) { *response->mutable_job() = std::move(job); });
}

grpc::ServerUnaryReactor* GrpcService::CheckJob(grpc::CallbackServerContext* context,
                                                const v1::SubmitJobRequest* request,
                                                v1::SubmitJobResponse* response) {
  return Offload(
      context, service_, pool_,
      [this, request](const auth::Caller& caller) { return service_.CheckJob(caller, *request); },
      [response](v1::Job job) { *response->mutable_job() = std::move(job); });
}

grpc::ServerUnaryReactor* GrpcService::GetJob(grpc::CallbackServerContext* context,
                                              const v1::GetJobRequest* request,
                                              v1::Job* response) {
  return Offload(
      context, service_, pool_,
      [this, request](const auth::Caller& caller) { return service_.GetJob(caller, *request); },
      [response](v1::Job job) { *response = std::move(job); });
}

grpc::ServerUnaryReactor* GrpcService::ListJobs(grpc::CallbackServerContext* context,
                                                const v1::ListJobsRequest* request,
                                                v1::ListJobsResponse* response) {
  return Offload(
      context, service_, pool_,
      [this, request](const auth::Caller& caller) { return service_.ListJobs(caller, *request); },
      [response](v1::ListJobsResponse list) { *response = std::move(list); });
}

grpc::ServerWriteReactor<v1::JobUpdate>* GrpcService::WatchJob(grpc::CallbackServerContext* context,
                                                               const v1::WatchJobRequest* request) {
  return new WatchReactor(*this, TokenOf(context), *request);
}

int GrpcService::OpenStreams() {
  absl::MutexLock lock(&streams_mutex_);
  return static_cast<int>(streams_.size());
}

void GrpcService::EndStreams() {
  absl::MutexLock lock(&streams_mutex_);
  ending_ = true;
  // End() never takes streams_mutex_, and a stream leaves the set only in OnDone, which gRPC
  // runs after Finish on another thread: it waits here for the lock, so no pointer dangles.
  for (WatchReactor* stream : streams_) stream->End(WatchReactor::kShuttingDown);
}

grpc::ServerUnaryReactor* GrpcService::GetTrajectory(grpc::CallbackServerContext* context,
                                                     const v1::GetTrajectoryRequest* request,
                                                     v1::GetTrajectoryResponse* response) {
  return Offload(
      context, service_, pool_,
      [this, request](const auth::Caller& caller) {
        return service_.GetTrajectory(caller, *request);
      },
      [response](v1::GetTrajectoryResponse t) { *response = std::move(t); });
}

grpc::ServerWriteReactor<v1::ArtifactChunk>* GrpcService::GetArtifact(
    grpc::CallbackServerContext* context, const v1::GetArtifactRequest* request) {
  return new ArtifactReactor(service_, pool_, context, *stalled_downloads_, TokenOf(context),
                             *request);
}

grpc::ServerUnaryReactor* GrpcService::CancelJob(grpc::CallbackServerContext* context,
                                                 const v1::CancelJobRequest* request,
                                                 v1::CancelJobResponse* response) {
  return Offload(
      context, service_, pool_,
      [this, request](const auth::Caller& caller) { return service_.CancelJob(caller, *request); },
      [response](v1::Job job) { *response->mutable_job() = std::move(job); });
}

grpc::ServerUnaryReactor* GrpcService::DeleteJob(grpc::CallbackServerContext* context,
                                                 const v1::DeleteJobRequest* request,
                                                 v1::DeleteJobResponse* response) {
  return Offload(
      context, service_, pool_,
      [this, request](const auth::Caller& caller) { return service_.DeleteJob(caller, *request); },
      [response](v1::DeleteJobResponse r) { *response = std::move(r); });
}

grpc::ServerUnaryReactor* GrpcService::UpdateJobNotes(grpc::CallbackServerContext* context,
                                                      const v1::UpdateJobNotesRequest* request,
                                                      v1::Job* response) {
  return Offload(
      context, service_, pool_,
      [this, request](const auth::Caller& caller) {
        return service_.UpdateJobNotes(caller, *request);
      },
      [response](v1::Job job) { *response = std::move(job); });
}

grpc::ServerUnaryReactor* GrpcService::WhoAmI(grpc::CallbackServerContext* context,
                                              const v1::WhoAmIRequest* /*request*/,
                                              v1::WhoAmIResponse* response) {
  return Offload(
      context, service_, pool_,
      [](const auth::Caller& caller) {
        return absl::StatusOr<v1::WhoAmIResponse>(service::AblationService::WhoAmI(caller));
      },
      [response](v1::WhoAmIResponse r) { *response = std::move(r); });
}

grpc::ServerUnaryReactor* GrpcService::GetClassView(grpc::CallbackServerContext* context,
                                                    const v1::GetClassViewRequest* request,
                                                    v1::ClassView* response) {
  return Offload(
      context, service_, pool_,
      [this, request](const auth::Caller& caller) {
        return service_.GetClassView(caller, *request);
      },
      [response](v1::ClassView view) { *response = std::move(view); });
}

}  // namespace ablate::rpc
