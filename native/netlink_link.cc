// Links: create a veth pair across namespaces, read, list, bring up, delete.
#include <net/if.h>
#include <netlink/route/link/veth.h>

#include <cerrno>

#include "errors.h"
#include "netlink.h"
#include "netns.h"
#include "nlconv.h"

namespace strait {

namespace {

// MTU bounds the kernel could accept for an ethernet-like link.
constexpr uint32_t kMaxMtu = 65535;

Napi::Object LinkToJs(Napi::Env env, rtnl_link* link) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", rtnl_link_get_ifindex(link));
  const char* name = rtnl_link_get_name(link);
  o.Set("name", name ? name : "");
  o.Set("mac", AddrBytes(env, rtnl_link_get_addr(link)));
  o.Set("mtu", rtnl_link_get_mtu(link));
  // Administrative state (IFF_UP), what setLinkUp changes; carrier is another matter.
  o.Set("up", (rtnl_link_get_flags(link) & IFF_UP) != 0);
  const char* kind = rtnl_link_get_type(link);
  o.Set("kind", kind ? Napi::Value(Napi::String::New(env, kind)) : env.Null());
  const char* alias = rtnl_link_get_ifalias(link);
  o.Set("alias", alias ? Napi::Value(Napi::String::New(env, alias)) : env.Null());
  return o;
}

// The kernel ignores IFLA_IFALIAS when it creates a link, so the alias is a second
// request. Should it fail, the fresh pair is deleted again: a caller that sees an
// error must not be left with a half-made link.
void SetAliasOrUndo(Napi::Env env, NlSocket& s, const std::string& name, const std::string& alias) {
  LinkPtr change(rtnl_link_alloc());
  rtnl_link* raw = nullptr;
  int err =
      change ? s.Try([&] { return rtnl_link_get_kernel(s.get(), 0, name.c_str(), &raw); }) : ENOMEM;
  LinkPtr orig(raw);
  if (!err) {
    rtnl_link_set_ifalias(change.get(), alias.c_str());
    err = s.Try([&] { return rtnl_link_change(s.get(), orig.get(), change.get(), 0); });
  }
  if (!err) return;
  std::string detail = s.Detail();
  LinkPtr victim(rtnl_link_alloc());
  if (victim) {
    rtnl_link_set_name(victim.get(), name.c_str());
    s.Try([&] { return rtnl_link_delete(s.get(), victim.get()); });
  }
  ThrowErrno(env, err, "rtnl_link_change", name + " alias", detail);
}

}  // namespace

// createVeth(name, peerName, peerNetnsPath, mtu /* 0 = kernel default */, alias | null)
Napi::Value NetlinkHandle::CreateVeth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = IfNameArg(info[0], "name");
  std::string peerName = IfNameArg(info[1], "peerName");
  std::string peerNs = StringArg(info[2], "peerNetnsPath");
  uint32_t mtu = UintArg(info[3], "mtu", kMaxMtu);
  bool hasAlias = !(info[4].IsNull() || info[4].IsUndefined());
  std::string alias = hasAlias ? StringArg(info[4], "alias") : "";
  bool hasPeerMac = info.Length() > 5 && !(info[5].IsNull() || info[5].IsUndefined());
  NlAddrPtr peerMac = hasPeerMac ? MacArg(info[5], "peerMac") : NlAddrPtr();
  NlSocket& s = Sock(env, "rtnl_link_add");

  UniqueFd ns = OpenNetns(env, peerNs);
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) ThrowErrno(env, ENOMEM, "rtnl_link_veth_alloc", name);
  // A second reference to the peer object, which the veth link owns and frees.
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  rtnl_link_set_name(link.get(), name.c_str());
  rtnl_link_set_name(peer.get(), peerName.c_str());
  if (mtu) {
    rtnl_link_set_mtu(link.get(), mtu);
    rtnl_link_set_mtu(peer.get(), mtu);
  }
  // IFLA_NET_NS_FD on the peer: the kernel creates it directly in the target
  // namespace, so it never appears (or clashes by name) in ours.
  rtnl_link_set_ns_fd(peer.get(), ns.get());
  // A requested MAC (a runtime's --mac-address) is the peer's from its first moment.
  if (hasPeerMac) rtnl_link_set_addr(peer.get(), peerMac.get());

  // EXCL: an existing link of that name is an error, never silently reused.
  s.Run(env, "rtnl_link_add", "veth " + name + " peer " + peerName + " in " + peerNs,
        [&] { return rtnl_link_add(s.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); });
  if (hasAlias) SetAliasOrUndo(env, s, name, alias);
  return env.Undefined();
}

// getLink(name): the link, or null when there is none by that name.
Napi::Value NetlinkHandle::GetLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = IfNameArg(info[0], "name");
  NlSocket& s = Sock(env, "rtnl_link_get_kernel");
  rtnl_link* raw = nullptr;
  int err = s.Try([&] { return rtnl_link_get_kernel(s.get(), 0, name.c_str(), &raw); });
  LinkPtr link(raw);
  if (err == ENODEV) return env.Null();
  if (err) s.Throw(env, err, "rtnl_link_get_kernel", name);
  return LinkToJs(env, link.get());
}

Napi::Value NetlinkHandle::ListLinks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NlSocket& s = Sock(env, "rtnl_link_alloc_cache");
  nl_cache* raw = nullptr;
  s.Run(env, "rtnl_link_alloc_cache", where_, [&] {
    return WithDumpRetry([&] { return rtnl_link_alloc_cache(s.get(), AF_UNSPEC, &raw); });
  });
  CachePtr cache(raw);
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o))
    out.Set(i++, LinkToJs(env, reinterpret_cast<rtnl_link*>(o)));
  return out;
}

Napi::Value NetlinkHandle::SetLinkUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = IfNameArg(info[0], "name");
  NlSocket& s = Sock(env, "rtnl_link_change");
  rtnl_link* raw = nullptr;
  s.Run(env, "rtnl_link_get_kernel", name,
        [&] { return rtnl_link_get_kernel(s.get(), 0, name.c_str(), &raw); });
  LinkPtr orig(raw);
  LinkPtr change(rtnl_link_alloc());
  if (!change) ThrowErrno(env, ENOMEM, "rtnl_link_alloc", name);
  rtnl_link_set_flags(change.get(), IFF_UP);
  s.Run(env, "rtnl_link_change", name,
        [&] { return rtnl_link_change(s.get(), orig.get(), change.get(), 0); });
  return env.Undefined();
}

// deleteLink(name): true when deleted, false when it was already gone. Deleting
// one end of a veth removes its peer too.
Napi::Value NetlinkHandle::DeleteLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = IfNameArg(info[0], "name");
  NlSocket& s = Sock(env, "rtnl_link_delete");
  LinkPtr link(rtnl_link_alloc());
  if (!link) ThrowErrno(env, ENOMEM, "rtnl_link_alloc", name);
  rtnl_link_set_name(link.get(), name.c_str());
  int err = s.Try([&] { return rtnl_link_delete(s.get(), link.get()); });
  if (err == ENODEV) return Napi::Boolean::New(env, false);
  if (err) s.Throw(env, err, "rtnl_link_delete", name);
  return Napi::Boolean::New(env, true);
}

}  // namespace strait
