#include "netlink.h"

#include <netlink/route/link.h>

#include <cerrno>

#include "errors.h"
#include "netns.h"
#include "nlconv.h"

namespace strait {

namespace {

// Per-environment state: the constructor openNetlink() instantiates. Kept as
// instance data rather than a static so worker threads get their own.
struct AddonData {
  Napi::FunctionReference netlinkHandle;
};

}  // namespace

void NetlinkHandle::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function cls =
      DefineClass(env, "NetlinkHandle",
                  {
                      InstanceMethod<&NetlinkHandle::Close>("close"),
                      InstanceMethod<&NetlinkHandle::CreateVeth>("createVeth"),
                      InstanceMethod<&NetlinkHandle::GetLink>("getLink"),
                      InstanceMethod<&NetlinkHandle::ListLinks>("listLinks"),
                      InstanceMethod<&NetlinkHandle::SetLinkUp>("setLinkUp"),
                      InstanceMethod<&NetlinkHandle::SetLinkMtu>("setLinkMtu"),
                      InstanceMethod<&NetlinkHandle::CreateVxlan>("createVxlan"),
                      InstanceMethod<&NetlinkHandle::DeleteLink>("deleteLink"),
                      InstanceMethod<&NetlinkHandle::AddAddress>("addAddress"),
                      InstanceMethod<&NetlinkHandle::ListAddresses>("listAddresses"),
                      InstanceMethod<&NetlinkHandle::AddRoute>("addRoute"),
                      InstanceMethod<&NetlinkHandle::DeleteRoute>("deleteRoute"),
                      InstanceMethod<&NetlinkHandle::ListRoutes>("listRoutes"),
                      InstanceMethod<&NetlinkHandle::AddNeighbor>("addNeighbor"),
                      InstanceMethod<&NetlinkHandle::ListNeighbors>("listNeighbors"),
                  });
  auto* data = new AddonData{Napi::Persistent(cls)};
  env.SetInstanceData<AddonData>(data);
  exports.Set("NetlinkHandle", cls);
  exports.Set("openNetlink", Napi::Function::New<&NetlinkHandle::Open>(env, "openNetlink"));
}

Napi::Value NetlinkHandle::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value path = info.Length() > 0 ? info[0] : env.Undefined();
  return env.GetInstanceData<AddonData>()->netlinkHandle.New({path});
}

Napi::Value NetlinkHandle::Wrap(Napi::Env env, nl_sock* sock, const std::string& where) {
  return env.GetInstanceData<AddonData>()->netlinkHandle.New(
      {Napi::External<nl_sock>::New(env, sock), Napi::String::New(env, where)});
}

NetlinkHandle::NetlinkHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NetlinkHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() == 2 && info[0].IsExternal()) {  // from Wrap: connected already
    where_ = info[1].As<Napi::String>().Utf8Value();
    sock_ = NlSocket::Adopt(info[0].As<Napi::External<nl_sock>>().Data());
    return;
  }
  if (info.Length() == 0 || info[0].IsUndefined() || info[0].IsNull()) {
    where_ = "current netns";
    sock_ = NlSocket::Open(env, -1, where_);
    return;
  }
  where_ = StringArg(info[0], "netnsPath");
  UniqueFd ns = OpenNetns(env, where_);
  sock_ = NlSocket::Open(env, ns.get(), where_);
}

NlSocket& NetlinkHandle::Sock(Napi::Env env, const char* op) {
  if (!sock_) ThrowErrno(env, EBADF, op, where_, "netlink handle is closed");
  return *sock_;
}

int NetlinkHandle::IfIndex(Napi::Env env, const std::string& name, const char* op,
                           bool mayBeAbsent) {
  NlSocket& s = Sock(env, op);
  rtnl_link* raw = nullptr;
  int err = s.Try([&] { return rtnl_link_get_kernel(s.get(), 0, name.c_str(), &raw); });
  LinkPtr link(raw);
  if (err == ENODEV && mayBeAbsent) return 0;
  if (err) s.Throw(env, err, op, name);
  return rtnl_link_get_ifindex(link.get());
}

Napi::Value NetlinkHandle::Close(const Napi::CallbackInfo& info) {
  sock_.reset();  // idempotent: a second close is a no-op
  return info.Env().Undefined();
}

}  // namespace strait
