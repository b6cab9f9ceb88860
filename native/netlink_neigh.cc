// Neighbour (ARP / NDP) entries: add a permanent one, list them.
#include <linux/neighbour.h>
#include <sys/socket.h>

#include <cerrno>

#include "errors.h"
#include "netlink.h"
#include "nlconv.h"

namespace strait {

// addNeighbor(ifname, ipBytes, macBytes): NUD_PERMANENT, replacing any entry for
// that address, so a pod's gateway resolves without ARP/NDP ever being sent.
Napi::Value NetlinkHandle::AddNeighbor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = IfNameArg(info[0], "ifname");
  NlAddrPtr dst = IpArg(info[1], "address", 0);
  NlAddrPtr mac = MacArg(info[2], "mac");
  std::string what = AddrText(dst.get()) + " lladdr " + AddrText(mac.get()) + " dev " + ifname;
  int ifindex = IfIndex(env, ifname, "rtnl_neigh_add");

  NeighPtr n(rtnl_neigh_alloc());
  if (!n) ThrowErrno(env, ENOMEM, "rtnl_neigh_alloc", what);
  rtnl_neigh_set_ifindex(n.get(), ifindex);
  rtnl_neigh_set_family(n.get(), nl_addr_get_family(dst.get()));
  rtnl_neigh_set_dst(n.get(), dst.get());
  rtnl_neigh_set_lladdr(n.get(), mac.get());
  rtnl_neigh_set_state(n.get(), NUD_PERMANENT);
  NlSocket& s = Sock(env, "rtnl_neigh_add");
  s.Run(env, "rtnl_neigh_add", what,
        [&] { return rtnl_neigh_add(s.get(), n.get(), NLM_F_CREATE | NLM_F_REPLACE); });
  return env.Undefined();
}

// listNeighbors(ifname): IPv4 and IPv6 entries only (the same dump also returns
// bridge FDB entries, which are not neighbours in this sense).
Napi::Value NetlinkHandle::ListNeighbors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = IfNameArg(info[0], "ifname");
  int ifindex = IfIndex(env, ifname, "rtnl_neigh_alloc_cache");
  NlSocket& s = Sock(env, "rtnl_neigh_alloc_cache");
  nl_cache* raw = nullptr;
  s.Run(env, "rtnl_neigh_alloc_cache", ifname,
        [&] { return WithDumpRetry([&] { return rtnl_neigh_alloc_cache(s.get(), &raw); }); });
  CachePtr cache(raw);

  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* n = reinterpret_cast<rtnl_neigh*>(o);
    int family = FamilyNumber(rtnl_neigh_get_family(n));
    if (rtnl_neigh_get_ifindex(n) != ifindex || !family) continue;
    int state = rtnl_neigh_get_state(n);
    Napi::Object e = Napi::Object::New(env);
    e.Set("family", family);
    e.Set("address", AddrBytes(env, rtnl_neigh_get_dst(n)));
    e.Set("mac", AddrBytes(env, rtnl_neigh_get_lladdr(n)));
    e.Set("ifindex", ifindex);
    e.Set("permanent", state >= 0 && (state & NUD_PERMANENT) != 0);
    out.Set(i++, e);
  }
  return out;
}

}  // namespace strait
