// Reading a BPF ring buffer (BPF_MAP_TYPE_RINGBUF: strait_events_v1). The records'
// meaning lives in TS (src/datapath/maps/events.ts); here they are only bytes.
//
// new BpfRingReader(mapFd, recordSize) maps the ring (libbpf's ring_buffer__new);
// the fd may be closed afterwards, the mapping keeps the map alive. consume(maxBytes)
// takes every record written so far, up to maxBytes of them, and returns
// { bytes, skipped }: the records of recordSize back to back, and how many records
// of another size were passed over (none, while the programs and the reader agree
// on the layout). It never blocks: the programs submit without waking anyone
// (BPF_RB_NO_WAKEUP) and the agent drains on a timer, so no thread or epoll here.
#include <bpf/libbpf.h>
#include <napi.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "bpf_object.h"
#include "errors.h"
#include "nlconv.h"

namespace strait {

namespace {

// What a callback returns to make ring_buffer__consume stop after this record
// (libbpf advances past the record, then returns the value).
constexpr int kStopHere = -ENOSPC;

class BpfRingReader : public Napi::ObjectWrap<BpfRingReader> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpfRingReader",
                       {InstanceMethod<&BpfRingReader::Consume>("consume"),
                        InstanceMethod<&BpfRingReader::Close>("close")});
  }

  explicit BpfRingReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfRingReader>(info) {
    Napi::Env env = info.Env();
    int fd = FdArg(info[0], "fd");
    recordSize_ = UintArg(info[1], "recordSize", 1 << 20);
    if (recordSize_ == 0) ThrowInvalidArg(env, "recordSize must be at least 1");
    LibbpfLog log;
    ring_ = ring_buffer__new(fd, &BpfRingReader::OnRecord, this, nullptr);
    if (ring_ == nullptr)
      ThrowBpfErrno(env, errno, "ring_buffer__new", "map fd " + std::to_string(fd), log);
  }

  ~BpfRingReader() override { Free(); }

 private:
  static int OnRecord(void* ctx, void* data, size_t size) {
    auto* self = static_cast<BpfRingReader*>(ctx);
    if (size != self->recordSize_) {
      self->skipped_++;
      return 0;
    }
    const auto* p = static_cast<const uint8_t*>(data);
    self->out_.insert(self->out_.end(), p, p + size);
    return self->out_.size() + self->recordSize_ > self->maxBytes_ ? kStopHere : 0;
  }

  Napi::Value Consume(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr) ThrowInvalidArg(env, "the ring reader is closed");
    maxBytes_ = UintArg(info[0], "maxBytes", INT32_MAX);
    if (maxBytes_ < recordSize_)
      ThrowInvalidArg(env, "maxBytes must hold at least one record of " +
                               std::to_string(recordSize_) + " bytes");
    out_.clear();
    skipped_ = 0;
    int err = ring_buffer__consume(ring_);
    if (err < 0 && err != kStopHere) ThrowErrno(env, -err, "ring_buffer__consume", "ring");
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, out_.data(), out_.size()));
    o.Set("skipped", Napi::Number::New(env, static_cast<double>(skipped_)));
    out_.clear();
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Free();
    return info.Env().Undefined();
  }

  void Free() {
    ring_buffer__free(ring_);
    ring_ = nullptr;
  }

  ring_buffer* ring_ = nullptr;
  size_t recordSize_ = 0;
  size_t maxBytes_ = 0;
  uint64_t skipped_ = 0;
  std::vector<uint8_t> out_;
};

}  // namespace

void RegisterBpfRing(Napi::Env env, Napi::Object exports) {
  exports.Set("BpfRingReader", BpfRingReader::Define(env));
}

}  // namespace strait
