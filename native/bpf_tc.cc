// Attaching programs to interfaces: classic tc and XDP.
//
// Debian 12's libbpf (1.1) predates tcx and tc bpf_links, so tc programs hang off a
// clsact qdisc as direct-action cls_bpf filters (what bpf_tc_attach always makes),
// addressed by (ifindex, ingress|egress, handle, priority). Such a filter lives on
// after our process exits, which is the point: the datapath survives the agent.
// Swapping the program of a live filter in place (BPF_TC_F_REPLACE) is atomic for
// the packets crossing it.
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <cerrno>
#include <climits>
#include <string>

#include "bpf_object.h"
#include "errors.h"
#include "nlconv.h"

namespace strait {

namespace {

std::string Where(int ifindex, const std::string& dir) {
  return "ifindex " + std::to_string(ifindex) + (dir.empty() ? "" : " " + dir);
}

int IfindexArg(const Napi::Value& v) {
  uint32_t i = UintArg(v, "ifindex", INT_MAX);
  if (i == 0) ThrowInvalidArg(v.Env(), "ifindex must be positive");
  return static_cast<int>(i);
}

struct TcTarget {
  bpf_tc_hook hook;
  bpf_tc_opts opts;
  std::string where;
};

// ifindex and direction at info[0] and info[1], handle and priority at info[handleAt]
// and the one after it.
TcTarget TcArgs(const Napi::CallbackInfo& info, size_t handleAt) {
  Napi::Env env = info.Env();
  TcTarget t{};
  t.hook.sz = sizeof t.hook;
  t.hook.ifindex = IfindexArg(info[0]);
  std::string dir = StringArg(info[1], "direction");
  if (dir == "ingress") {
    t.hook.attach_point = BPF_TC_INGRESS;
  } else if (dir == "egress") {
    t.hook.attach_point = BPF_TC_EGRESS;
  } else {
    ThrowInvalidArg(env, "direction must be 'ingress' or 'egress'");
  }
  t.opts.sz = sizeof t.opts;
  t.opts.handle = UintArg(info[handleAt], "handle", UINT32_MAX);
  t.opts.priority = UintArg(info[handleAt + 1], "priority", UINT16_MAX);
  if (t.opts.handle == 0 || t.opts.priority == 0)
    ThrowInvalidArg(env, "handle and priority must be positive");
  t.where = Where(t.hook.ifindex, dir) + " handle " + std::to_string(t.opts.handle) + " priority " +
            std::to_string(t.opts.priority);
  return t;
}

// "Nothing is attached there", as the kernel says it: no such filter (ENOENT on a
// delete), no filter at that priority (EINVAL on a get: "Cannot find specified
// filter chain"), no clsact qdisc (EINVAL: "Parent Qdisc doesn't exists"), or no
// such interface (ENODEV). Our arguments are checked before, so an EINVAL here
// does not hide a malformed request.
bool NothingThere(int err) { return err == ENOENT || err == EINVAL || err == ENODEV; }

// bpfTcAttach(ifindex, direction, progFd, handle, priority, replace)
Napi::Value TcAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TcTarget t = TcArgs(info, 3);
  t.opts.prog_fd = FdArg(info[2], "progFd");
  t.opts.flags = BoolArg(info[5], "replace") ? BPF_TC_F_REPLACE : 0;
  LibbpfLog log;
  int err = bpf_tc_hook_create(&t.hook);
  if (err != 0 && err != -EEXIST)
    ThrowBpfErrno(env, -err, "bpf_tc_hook_create", Where(t.hook.ifindex, ""), log);
  err = bpf_tc_attach(&t.hook, &t.opts);
  if (err != 0) ThrowBpfErrno(env, -err, "bpf_tc_attach", t.where, log);
  return env.Undefined();
}

// bpfTcDetach(ifindex, direction, handle, priority) -> false when nothing was there.
// The clsact qdisc stays: other filters may hang off it.
Napi::Value TcDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TcTarget t = TcArgs(info, 2);
  LibbpfLog log;
  int err = bpf_tc_detach(&t.hook, &t.opts);
  if (err == 0) return Napi::Boolean::New(env, true);
  if (NothingThere(-err)) return Napi::Boolean::New(env, false);
  ThrowBpfErrno(env, -err, "bpf_tc_detach", t.where, log);
}

// bpfTcQuery(ifindex, direction, handle, priority) -> prog id | null
Napi::Value TcQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TcTarget t = TcArgs(info, 2);
  LibbpfLog log;
  int err = bpf_tc_query(&t.hook, &t.opts);
  if (err == 0) return Napi::Number::New(env, t.opts.prog_id);
  if (NothingThere(-err)) return env.Null();
  ThrowBpfErrno(env, -err, "bpf_tc_query", t.where, log);
}

// bpfXdpAttach(ifindex, progFd, 'skb' | 'native' | 'auto', replace). Without replace
// an interface that already runs an XDP program refuses (EBUSY).
Napi::Value XdpAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = IfindexArg(info[0]);
  int progFd = FdArg(info[1], "progFd");
  std::string mode = StringArg(info[2], "mode");
  __u32 flags = 0;
  if (mode == "skb") {
    flags = XDP_FLAGS_SKB_MODE;
  } else if (mode == "native") {
    flags = XDP_FLAGS_DRV_MODE;
  } else if (mode != "auto") {
    ThrowInvalidArg(env, "mode must be 'skb', 'native' or 'auto'");
  }
  if (!BoolArg(info[3], "replace")) flags |= XDP_FLAGS_UPDATE_IF_NOEXIST;
  LibbpfLog log;
  int err = bpf_xdp_attach(ifindex, progFd, flags, nullptr);
  if (err != 0) ThrowBpfErrno(env, -err, "bpf_xdp_attach", Where(ifindex, "xdp " + mode), log);
  return env.Undefined();
}

bpf_xdp_query_opts XdpQueryOf(Napi::Env env, int ifindex, const LibbpfLog& log) {
  bpf_xdp_query_opts q{};
  q.sz = sizeof q;
  int err = bpf_xdp_query(ifindex, 0, &q);
  if (err != 0) ThrowBpfErrno(env, -err, "bpf_xdp_query", Where(ifindex, "xdp"), log);
  return q;
}

// bpfXdpDetach(ifindex): removes the program of every mode that has one, since a
// detach addresses one mode and flags 0 would mean native on a veth. Idempotent.
Napi::Value XdpDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = IfindexArg(info[0]);
  LibbpfLog log;
  bpf_xdp_query_opts q = XdpQueryOf(env, ifindex, log);
  const std::pair<__u32, __u32> modes[] = {{q.skb_prog_id, XDP_FLAGS_SKB_MODE},
                                           {q.drv_prog_id, XDP_FLAGS_DRV_MODE},
                                           {q.hw_prog_id, XDP_FLAGS_HW_MODE}};
  for (const auto& [id, flag] : modes) {
    if (id == 0) continue;
    int err = bpf_xdp_detach(ifindex, flag, nullptr);
    if (err != 0) ThrowBpfErrno(env, -err, "bpf_xdp_detach", Where(ifindex, "xdp"), log);
  }
  return env.Undefined();
}

// bpfXdpQuery(ifindex) -> { progId, mode: 'skb' | 'native' | 'hw' | 'multi' } | null
Napi::Value XdpQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = IfindexArg(info[0]);
  LibbpfLog log;
  bpf_xdp_query_opts q = XdpQueryOf(env, ifindex, log);
  const char* mode = nullptr;
  __u32 id = 0;
  switch (q.attach_mode) {
    case XDP_ATTACHED_NONE: return env.Null();
    case XDP_ATTACHED_SKB:
      mode = "skb";
      id = q.skb_prog_id;
      break;
    case XDP_ATTACHED_DRV:
      mode = "native";
      id = q.drv_prog_id;
      break;
    case XDP_ATTACHED_HW:
      mode = "hw";
      id = q.hw_prog_id;
      break;
    default:
      mode = "multi";
      id = q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id ? q.skb_prog_id : q.hw_prog_id;
      break;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("progId", id);
  o.Set("mode", mode);
  return o;
}

}  // namespace

void RegisterBpfTc(Napi::Env env, Napi::Object exports) {
  exports.Set("bpfTcAttach", Napi::Function::New<TcAttach>(env, "bpfTcAttach"));
  exports.Set("bpfTcDetach", Napi::Function::New<TcDetach>(env, "bpfTcDetach"));
  exports.Set("bpfTcQuery", Napi::Function::New<TcQuery>(env, "bpfTcQuery"));
  exports.Set("bpfXdpAttach", Napi::Function::New<XdpAttach>(env, "bpfXdpAttach"));
  exports.Set("bpfXdpDetach", Napi::Function::New<XdpDetach>(env, "bpfXdpDetach"));
  exports.Set("bpfXdpQuery", Napi::Function::New<XdpQuery>(env, "bpfXdpQuery"));
}

}  // namespace strait
