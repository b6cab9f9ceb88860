// Programs: identity (info, fd by id) and BPF_PROG_TEST_RUN, the BPF test tier's
// way of running a program on crafted packets without an interface
// (docs/architecture.md, convention 8).
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "bpf_object.h"
#include "errors.h"
#include "nlconv.h"

namespace strait {

namespace {

// data_out room beyond the input: programs may grow the packet (bpf_skb_adjust_room,
// bpf_xdp_adjust_head); a larger result fails with ENOSPC.
constexpr size_t kDataOutSlack = 256;

std::string ProgName(int fd) { return "prog fd " + std::to_string(fd); }

Napi::Value ProgInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  bpf_prog_info p{};
  __u32 len = sizeof p;
  if (bpf_obj_get_info_by_fd(fd, &p, &len) != 0)
    ThrowErrno(env, errno, "bpf_obj_get_info_by_fd", ProgName(fd));
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", p.id);
  o.Set("name", std::string(p.name, strnlen(p.name, sizeof p.name)));
  o.Set("tag", Napi::Buffer<uint8_t>::Copy(env, p.tag, sizeof p.tag));
  o.Set("type", p.type);
  return o;
}

Napi::Value ProgFdById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = UintArg(info[0], "id", UINT32_MAX);
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) ThrowErrno(env, errno, "bpf_prog_get_fd_by_id", "prog id " + std::to_string(id));
  return Napi::Number::New(env, fd);
}

// bpfProgTestRun(fd, data, repeat, ctx | null)
//   -> { retval, data, durationNs, ctx | null }
// ctx, when given, goes in as ctx_in and comes back as ctx_out of the same size (for
// tc programs a struct __sk_buff: see bpfSkbLayout).
Napi::Value ProgTestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  Bytes data = BytesArg(info[1], "data");
  uint32_t repeat = UintArg(info[2], "repeat", INT_MAX);
  bool hasCtx = !info[3].IsNull() && !info[3].IsUndefined();
  Bytes ctx = hasCtx ? BytesArg(info[3], "ctx") : Bytes{nullptr, 0};

  std::vector<uint8_t> dataOut(data.len + kDataOutSlack);
  std::vector<uint8_t> ctxOut(ctx.len);
  bpf_test_run_opts opts{};
  opts.sz = sizeof opts;
  opts.data_in = data.data;
  opts.data_size_in = static_cast<__u32>(data.len);
  opts.data_out = dataOut.data();
  opts.data_size_out = static_cast<__u32>(dataOut.size());
  if (hasCtx && ctx.len > 0) {
    opts.ctx_in = ctx.data;
    opts.ctx_size_in = static_cast<__u32>(ctx.len);
    opts.ctx_out = ctxOut.data();
    opts.ctx_size_out = static_cast<__u32>(ctxOut.size());
  }
  opts.repeat = static_cast<int>(repeat);
  if (bpf_prog_test_run_opts(fd, &opts) != 0)
    ThrowErrno(env, errno, "bpf_prog_test_run", ProgName(fd));

  Napi::Object o = Napi::Object::New(env);
  o.Set("retval", opts.retval);
  o.Set("data", Napi::Buffer<uint8_t>::Copy(env, dataOut.data(),
                                            std::min<size_t>(opts.data_size_out, dataOut.size())));
  o.Set("durationNs", opts.duration);
  if (hasCtx) {
    o.Set("ctx", Napi::Buffer<uint8_t>::Copy(env, ctxOut.data(),
                                             std::min<size_t>(opts.ctx_size_out, ctxOut.size())));
  } else {
    o.Set("ctx", env.Null());
  }
  return o;
}

// struct __sk_buff as this addon was compiled against (<linux/bpf.h>), so the TS
// side builds test-run contexts without hard-coding offsets. The struct only ever
// grows at its end; a kernel accepts any ctx_in up to its own size.
Napi::Object SkbLayout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("size", sizeof(struct __sk_buff));
  o.Set("mark", offsetof(struct __sk_buff, mark));
  o.Set("priority", offsetof(struct __sk_buff, priority));
  o.Set("ingressIfindex", offsetof(struct __sk_buff, ingress_ifindex));
  o.Set("ifindex", offsetof(struct __sk_buff, ifindex));
  o.Set("cb", offsetof(struct __sk_buff, cb));
  o.Set("tstamp", offsetof(struct __sk_buff, tstamp));
  o.Set("wireLen", offsetof(struct __sk_buff, wire_len));
  return o;
}

}  // namespace

void RegisterBpfProg(Napi::Env env, Napi::Object exports) {
  exports.Set("bpfSkbLayout", SkbLayout(env));
  exports.Set("bpfProgInfo", Napi::Function::New<ProgInfo>(env, "bpfProgInfo"));
  exports.Set("bpfProgFdById", Napi::Function::New<ProgFdById>(env, "bpfProgFdById"));
  exports.Set("bpfProgTestRun", Napi::Function::New<ProgTestRun>(env, "bpfProgTestRun"));
}

}  // namespace strait
