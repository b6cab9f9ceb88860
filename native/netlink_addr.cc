// Interface addresses: add one, list them.
#include <linux/if_addr.h>
#include <sys/socket.h>

#include <cerrno>

#include "errors.h"
#include "netlink.h"
#include "nlconv.h"

namespace strait {

// addAddress(ifname, bytes /* 4 or 16 */, prefixLen, noDad)
Napi::Value NetlinkHandle::AddAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = IfNameArg(info[0], "ifname");
  uint32_t prefixLen = UintArg(info[2], "prefixLen", 128);
  NlAddrPtr local = IpArg(info[1], "address", prefixLen);
  bool noDad = BoolArg(info[3], "noDad");
  std::string what = AddrText(local.get()) + " dev " + ifname;
  int ifindex = IfIndex(env, ifname, "rtnl_addr_add");

  AddrPtr addr(rtnl_addr_alloc());
  if (!addr) ThrowErrno(env, ENOMEM, "rtnl_addr_alloc", what);
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), nl_addr_get_family(local.get()));
  rtnl_addr_set_local(addr.get(), local.get());
  rtnl_addr_set_prefixlen(addr.get(), static_cast<int>(prefixLen));
  // NODAD: the address is usable at once instead of "tentative" for a second or
  // more; a pod's /128 on its own veth cannot collide with anything.
  if (noDad) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  NlSocket& s = Sock(env, "rtnl_addr_add");
  s.Run(env, "rtnl_addr_add", what,
        [&] { return rtnl_addr_add(s.get(), addr.get(), NLM_F_CREATE | NLM_F_EXCL); });
  return env.Undefined();
}

// listAddresses(ifname | null): every IPv4/IPv6 address on it (on every link when
// null: one dump, so finding the uplink costs no dump per link), link-local ones
// included, each with the index of its link.
Napi::Value NetlinkHandle::ListAddresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool all = info[0].IsNull() || info[0].IsUndefined();
  std::string ifname = all ? where_ : IfNameArg(info[0], "ifname");
  int ifindex = all ? 0 : IfIndex(env, ifname, "rtnl_addr_alloc_cache");
  NlSocket& s = Sock(env, "rtnl_addr_alloc_cache");
  nl_cache* raw = nullptr;
  s.Run(env, "rtnl_addr_alloc_cache", ifname,
        [&] { return WithDumpRetry([&] { return rtnl_addr_alloc_cache(s.get(), &raw); }); });
  CachePtr cache(raw);

  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    int family = FamilyNumber(rtnl_addr_get_family(a));
    if ((!all && rtnl_addr_get_ifindex(a) != ifindex) || !family) continue;
    Napi::Object e = Napi::Object::New(env);
    e.Set("family", family);
    e.Set("address", AddrBytes(env, rtnl_addr_get_local(a)));
    e.Set("prefixLen", rtnl_addr_get_prefixlen(a));
    e.Set("ifindex", rtnl_addr_get_ifindex(a));
    out.Set(i++, e);
  }
  return out;
}

}  // namespace strait
