// Routes in the main table: add (or replace), delete, list. A route is described
// from JS as { family: 4|6, dst: bytes|null, prefixLen, gateway: bytes|null, ifname,
//   scope: number|null, onlink: boolean, protocol: number|null }; dst null is the
// default route. The protocol (RTPROT_*) says whose a route is: strait tags the
// routes to other nodes' pods with its own, so it finds exactly those again.
#include <linux/rtnetlink.h>
#include <netlink/route/nexthop.h>
#include <sys/socket.h>

#include <cerrno>

#include "errors.h"
#include "netlink.h"
#include "nlconv.h"

namespace strait {

namespace {

struct RouteSpec {
  RoutePtr route;
  std::string text;  // "0.0.0.0/0 via 169.254.1.1 dev eth0", for messages
};

// Builds the libnl route. ifindex 0 never reaches here (callers resolve first).
RouteSpec BuildRoute(Napi::Env env, const Napi::Object& r, int ifindex, const std::string& ifname,
                     bool forDelete) {
  int family = FamilyArg(r.Get("family"), "route.family");
  uint32_t prefixLen = UintArg(r.Get("prefixLen"), "route.prefixLen", family == AF_INET ? 32 : 128);
  Napi::Value dstV = r.Get("dst");
  NlAddrPtr dst = dstV.IsNull() || dstV.IsUndefined() ? AnyAddr(env, family)
                                                      : IpArg(dstV, "route.dst", prefixLen);
  if (nl_addr_get_family(dst.get()) != family)
    ThrowInvalidArg(env, "route.dst does not match route.family");
  Napi::Value gwV = r.Get("gateway");
  NlAddrPtr gw;
  if (!gwV.IsNull() && !gwV.IsUndefined()) {
    gw = IpArg(gwV, "route.gateway", family == AF_INET ? 32 : 128);
    if (nl_addr_get_family(gw.get()) != family)
      ThrowInvalidArg(env, "route.gateway does not match route.family");
  }
  Napi::Value scopeV = r.Get("scope");
  Napi::Value onlinkV = r.Get("onlink");
  bool onlink = !onlinkV.IsUndefined() && BoolArg(onlinkV, "route.onlink");
  Napi::Value protoV = r.Get("protocol");
  bool hasProto = !protoV.IsNull() && !protoV.IsUndefined();
  uint32_t protocol = hasProto ? UintArg(protoV, "route.protocol", 255) : 0;

  RouteSpec spec{RoutePtr(rtnl_route_alloc()), AddrText(dst.get())};
  if (!spec.route) ThrowErrno(env, ENOMEM, "rtnl_route_alloc", "");
  rtnl_route* route = spec.route.get();
  rtnl_route_set_family(route, static_cast<uint8_t>(family));
  rtnl_route_set_dst(route, dst.get());
  rtnl_route_set_table(route, RT_TABLE_MAIN);
  rtnl_route_set_type(route, RTN_UNICAST);
  // Unless the caller names one, ours are "static" (`ip route add` would say boot);
  // on delete, protocol 0 matches a route whoever added it, a named one only its own.
  if (hasProto)
    rtnl_route_set_protocol(route, static_cast<uint8_t>(protocol));
  else
    rtnl_route_set_protocol(route, forDelete ? RTPROT_UNSPEC : RTPROT_STATIC);
  if (!scopeV.IsNull() && !scopeV.IsUndefined())
    rtnl_route_set_scope(route, static_cast<uint8_t>(UintArg(scopeV, "route.scope", 255)));
  else if (forDelete)
    // Unset, libnl would guess (link without a gateway, else universe) and miss a
    // route added with another scope; NOWHERE is the kernel's "any scope".
    rtnl_route_set_scope(route, RT_SCOPE_NOWHERE);
  if (onlink) rtnl_route_set_flags(route, RTNH_F_ONLINK);

  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!nh) ThrowErrno(env, ENOMEM, "rtnl_route_nh_alloc", "");
  rtnl_route_nh_set_ifindex(nh, ifindex);
  if (gw) {
    rtnl_route_nh_set_gateway(nh, gw.get());
    spec.text += " via " + AddrText(gw.get());
  }
  if (onlink) rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
  rtnl_route_add_nexthop(route, nh);  // the route owns nh from here on
  spec.text += " dev " + ifname;
  return spec;
}

const char* kRouteObject = "route";

Napi::Object RouteArg(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject())
    ThrowInvalidArg(info.Env(), std::string(kRouteObject) + " must be an object");
  return info[0].As<Napi::Object>();
}

}  // namespace

// addRoute(route, replace): EEXIST for an equal route unless replace, which swaps
// the route of that destination in place (NLM_F_REPLACE) or creates it.
Napi::Value NetlinkHandle::AddRoute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = RouteArg(info);
  bool replace = BoolArg(info[1], "replace");
  std::string ifname = IfNameArg(r.Get("ifname"), "route.ifname");
  int ifindex = IfIndex(env, ifname, "rtnl_route_add");
  RouteSpec spec = BuildRoute(env, r, ifindex, ifname, false);
  NlSocket& s = Sock(env, "rtnl_route_add");
  int flags = NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
  s.Run(env, "rtnl_route_add", spec.text,
        [&] { return rtnl_route_add(s.get(), spec.route.get(), flags); });
  return env.Undefined();
}

// deleteRoute(route): true when deleted, false when no such route (or no such
// interface, which takes its routes with it).
Napi::Value NetlinkHandle::DeleteRoute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = RouteArg(info);
  std::string ifname = IfNameArg(r.Get("ifname"), "route.ifname");
  int ifindex = IfIndex(env, ifname, "rtnl_route_delete", true);
  if (!ifindex) return Napi::Boolean::New(env, false);
  RouteSpec spec = BuildRoute(env, r, ifindex, ifname, true);
  NlSocket& s = Sock(env, "rtnl_route_delete");
  int err = s.Try([&] { return rtnl_route_delete(s.get(), spec.route.get(), 0); });
  // The kernel says ESRCH for "no such route" (ENOENT on some paths).
  if (err == ESRCH || err == ENOENT) return Napi::Boolean::New(env, false);
  if (err) s.Throw(env, err, "rtnl_route_delete", spec.text);
  return Napi::Boolean::New(env, true);
}

// listRoutes(family, ifname | null, protocol | null): unicast routes of the main
// table, out of that interface and of that protocol when given; for a multipath
// route only its first nexthop is reported.
Napi::Value NetlinkHandle::ListRoutes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int family = FamilyArg(info[0], "family");
  bool filter = !(info[1].IsNull() || info[1].IsUndefined());
  bool byProto = !(info[2].IsNull() || info[2].IsUndefined());
  uint32_t protocol = byProto ? UintArg(info[2], "protocol", 255) : 0;
  int ifindex = 0;
  if (filter) ifindex = IfIndex(env, IfNameArg(info[1], "ifname"), "rtnl_route_alloc_cache");
  NlSocket& s = Sock(env, "rtnl_route_alloc_cache");
  nl_cache* raw = nullptr;
  s.Run(env, "rtnl_route_alloc_cache", where_, [&] {
    return WithDumpRetry([&] { return rtnl_route_alloc_cache(s.get(), family, 0, &raw); });
  });
  CachePtr cache(raw);

  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* route = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(route) != RT_TABLE_MAIN || rtnl_route_get_type(route) != RTN_UNICAST ||
        rtnl_route_get_family(route) != family ||
        (byProto && rtnl_route_get_protocol(route) != protocol))
      continue;
    rtnl_nexthop* nh =
        rtnl_route_get_nnexthops(route) > 0 ? rtnl_route_nexthop_n(route, 0) : nullptr;
    int oif = nh ? rtnl_route_nh_get_ifindex(nh) : 0;
    if (filter && oif != ifindex) continue;
    nl_addr* dst = rtnl_route_get_dst(route);
    int prefixLen = dst ? nl_addr_get_prefixlen(dst) : 0;
    Napi::Object e = Napi::Object::New(env);
    e.Set("family", FamilyNumber(family));
    e.Set("dst", prefixLen == 0 ? env.Null() : AddrBytes(env, dst));
    e.Set("prefixLen", prefixLen);
    e.Set("gateway", nh ? AddrBytes(env, rtnl_route_nh_get_gateway(nh)) : env.Null());
    e.Set("ifindex", oif);
    e.Set("scope", rtnl_route_get_scope(route));
    e.Set("table", rtnl_route_get_table(route));
    e.Set("protocol", rtnl_route_get_protocol(route));
    out.Set(i++, e);
  }
  return out;
}

}  // namespace strait
