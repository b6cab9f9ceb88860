// The libbpf half of strait.node, one concern per file:
//   bpf_object.cc  open + load an object against a pin root; pin, get, dup, close fds;
//                  libbpf's log, captured so it ends up in our errors
//   bpf_map.cc     map info and element operations on raw bytes
//   bpf_tc.cc      attachment: classic tc (clsact + direct-action filter) and XDP
//   bpf_prog.cc    program info, fd by id, BPF_PROG_TEST_RUN, the __sk_buff layout
//   bpf_ring.cc    reading a ring buffer map (the flow events), never blocking
// Everything is synchronous on the JS thread and thin: bytes in, bytes out. Sizes,
// directions and flags are validated by src/datapath/bpf.ts first; the checks here
// only keep a caller who bypassed it from making the kernel read or write past a
// buffer.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace strait {

void RegisterBpfObject(Napi::Env env, Napi::Object exports);
void RegisterBpfMap(Napi::Env env, Napi::Object exports);
void RegisterBpfTc(Napi::Env env, Napi::Object exports);
void RegisterBpfProg(Napi::Env env, Napi::Object exports);
void RegisterBpfRing(Napi::Env env, Napi::Object exports);

// A file descriptor argument: an integer in 0..INT32_MAX.
int FdArg(const Napi::Value& v, const char* what);

// A Uint8Array argument, viewed in place (no copy; valid during the call only).
struct Bytes {
  uint8_t* data;
  size_t len;
};
Bytes BytesArg(const Napi::Value& v, const char* what);

// While one is alive, libbpf's warnings on this thread are collected here instead
// of going to stderr, so a failed call can say why (libbpf explains a pinned map it
// could not reuse, or prints the verifier log, only through its print hook).
// Outside a capture, warnings go to stderr as libbpf would print them; info and
// debug messages are dropped either way.
class LibbpfLog {
 public:
  LibbpfLog();
  ~LibbpfLog();
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;

  const std::string& Text() const { return text_; }
  void Append(const char* s);
  // For a call that succeeded despite warnings worth a look (a load): to stderr.
  void Forward() const;

 private:
  std::string text_;
  LibbpfLog* prev_;
};

// ThrowErrno with libbpf's captured messages: a short digest (the last lines,
// where libbpf and the verifier say what went wrong) goes into the message, the
// whole capture into the error's `.log`.
[[noreturn]] void ThrowBpfErrno(Napi::Env env, int err, const std::string& op,
                                const std::string& object, const LibbpfLog& log);

}  // namespace strait
