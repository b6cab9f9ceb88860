// Conversions between JS values and libnl objects, and RAII owners for the latter.
// Addresses cross the boundary as raw bytes (4 or 16 for IP, 6 for a MAC): the TS
// side parses and formats strings, C++ never does (docs/architecture.md, convention 2).
#pragma once

#include <napi.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include <memory>
#include <string>

namespace strait {

template <class T, void (*Release)(T*)>
struct NlRelease {
  void operator()(T* p) const {
    if (p) Release(p);
  }
};

using NlAddrPtr = std::unique_ptr<nl_addr, NlRelease<nl_addr, nl_addr_put>>;
using LinkPtr = std::unique_ptr<rtnl_link, NlRelease<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, NlRelease<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, NlRelease<rtnl_route, rtnl_route_put>>;
using NeighPtr = std::unique_ptr<rtnl_neigh, NlRelease<rtnl_neigh, rtnl_neigh_put>>;
using CachePtr = std::unique_ptr<nl_cache, NlRelease<nl_cache, nl_cache_free>>;

// Longest interface name the kernel accepts (IFNAMSIZ - 1).
constexpr size_t kMaxIfName = 15;

// Argument readers; each throws a TypeError (ERR_INVALID_ARG) naming `what`.
std::string IfNameArg(const Napi::Value& v, const char* what);
std::string StringArg(const Napi::Value& v, const char* what);
uint32_t UintArg(const Napi::Value& v, const char* what, uint32_t max);
bool BoolArg(const Napi::Value& v, const char* what);
// 4 or 16 bytes -> AF_INET / AF_INET6 address with the given prefix length.
NlAddrPtr IpArg(const Napi::Value& v, const char* what, uint32_t prefixLen);
// The all-zero address of a family (4 or 6) with prefix 0: libnl's "default".
NlAddrPtr AnyAddr(Napi::Env env, int family);
// 6 bytes -> link-layer address.
NlAddrPtr MacArg(const Napi::Value& v, const char* what);
// 4 or 6 -> AF_INET or AF_INET6.
int FamilyArg(const Napi::Value& v, const char* what);

// Raw bytes of an address as a Buffer; null when absent or empty.
Napi::Value AddrBytes(Napi::Env env, nl_addr* addr);
// AF_INET -> 4, AF_INET6 -> 6.
int FamilyNumber(int af);
// "198.18.0.10/32"-style text for error messages only (libnl formats it).
std::string AddrText(nl_addr* addr);

// Retries a dump interrupted by a concurrent change (NLE_DUMP_INTR) a few times;
// the kernel then has a consistent view again.
int WithDumpRetry(const std::function<int()>& dump);

}  // namespace strait
