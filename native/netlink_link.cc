// Links: create a veth pair across namespaces, read, list, bring up, set the MTU,
// delete. (The VXLAN device is netlink_vxlan.cc's.)
#include "netlink_link.h"

#include <net/if.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>

#include <cerrno>

#include "errors.h"
#include "netlink.h"
#include "netns.h"
#include "nlconv.h"

namespace strait {

namespace {

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
  o.Set("noarp", (rtnl_link_get_flags(link) & IFF_NOARP) != 0);
  // Absent when the link has no IPv6 state (IPv6 off, or an MTU below 1280).
  uint8_t mode = 0;
  bool hasMode = rtnl_link_inet6_get_addr_gen_mode(link, &mode) == 0;
  o.Set("addrGenMode", hasMode ? Napi::Value(Napi::Number::New(env, mode)) : env.Null());
  o.Set("vxlan", VxlanInfo(env, link));
  return o;
}

// Fetches the link and applies `fill`'s change to it, throwing on any failure.
template <class Fill>
void ChangeOrThrow(Napi::Env env, NlSocket& s, const std::string& name, Fill fill) {
  LinkPtr change(rtnl_link_alloc());
  if (!change) ThrowErrno(env, ENOMEM, "rtnl_link_alloc", name);
  fill(change.get());
  int err = ChangeLink(s, name, change.get());
  if (err) s.Throw(env, err, "rtnl_link_change", name);
}

}  // namespace

int ChangeLink(NlSocket& s, const std::string& name, rtnl_link* change) {
  rtnl_link* raw = nullptr;
  int err = s.Try([&] { return rtnl_link_get_kernel(s.get(), 0, name.c_str(), &raw); });
  LinkPtr orig(raw);
  if (err) return err;
  return s.Try([&] { return rtnl_link_change(s.get(), orig.get(), change, 0); });
}

void UndoLinkAndThrow(Napi::Env env, NlSocket& s, int err, const std::string& op,
                      const std::string& name) {
  std::string detail = s.Detail();
  LinkPtr victim(rtnl_link_alloc());
  if (victim) {
    rtnl_link_set_name(victim.get(), name.c_str());
    s.Try([&] { return rtnl_link_delete(s.get(), victim.get()); });
  }
  ThrowErrno(env, err, op, name, detail);
}

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
  // The kernel ignores IFLA_IFALIAS when it creates a link: a second request.
  if (hasAlias) {
    LinkPtr change(rtnl_link_alloc());
    if (!change) UndoLinkAndThrow(env, s, ENOMEM, "rtnl_link_alloc", name);
    rtnl_link_set_ifalias(change.get(), alias.c_str());
    int err = ChangeLink(s, name, change.get());
    if (err) UndoLinkAndThrow(env, s, err, "rtnl_link_change", name);
  }
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
  ChangeOrThrow(env, Sock(env, "rtnl_link_change"), name,
                [](rtnl_link* c) { rtnl_link_set_flags(c, IFF_UP); });
  return env.Undefined();
}

// setLinkMtu(name, mtu): the kernel refuses (EINVAL) an MTU outside the device's range.
Napi::Value NetlinkHandle::SetLinkMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = IfNameArg(info[0], "name");
  uint32_t mtu = UintArg(info[1], "mtu", kMaxMtu);
  ChangeOrThrow(env, Sock(env, "rtnl_link_change"), name,
                [mtu](rtnl_link* c) { rtnl_link_set_mtu(c, mtu); });
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
