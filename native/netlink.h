// NetlinkHandle: the JS object behind Netlink.open(). It owns one NETLINK_ROUTE
// socket created in a given network namespace; every method runs synchronously on
// the JS thread yet acts in that namespace, because the kernel ties a netlink
// socket to the namespace it was created in, not to the caller's thread.
//
// The methods are spread over netlink_{link,vxlan,addr,route,neigh}.cc, one object kind
// each; this header and netlink.cc hold the class and its lifecycle.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "nlsock.h"

namespace strait {

class NetlinkHandle : public Napi::ObjectWrap<NetlinkHandle> {
 public:
  // Defines the class and `openNetlink(netnsPath?)` on exports.
  static void Register(Napi::Env env, Napi::Object exports);

  // new NetlinkHandle(netnsPath?): opens the socket (see NlSocket::Open).
  explicit NetlinkHandle(const Napi::CallbackInfo& info);

  // A handle over a socket connected elsewhere (openNetlinkAsync's worker), which it owns.
  static Napi::Value Wrap(Napi::Env env, nl_sock* sock, const std::string& where);

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);

  // The open socket; throws EBADF once close() was called.
  NlSocket& Sock(Napi::Env env, const char* op);
  // Interface index of `name` in this handle's namespace (if_nametoindex would ask
  // the caller's namespace instead). Returns 0 when absent if mayBeAbsent, else throws ENODEV.
  int IfIndex(Napi::Env env, const std::string& name, const char* op, bool mayBeAbsent = false);

  Napi::Value Close(const Napi::CallbackInfo& info);

  // netlink_link.cc
  Napi::Value CreateVeth(const Napi::CallbackInfo& info);
  Napi::Value GetLink(const Napi::CallbackInfo& info);
  Napi::Value ListLinks(const Napi::CallbackInfo& info);
  Napi::Value SetLinkUp(const Napi::CallbackInfo& info);
  Napi::Value SetLinkMtu(const Napi::CallbackInfo& info);
  Napi::Value DeleteLink(const Napi::CallbackInfo& info);

  // netlink_vxlan.cc
  Napi::Value CreateVxlan(const Napi::CallbackInfo& info);

  // netlink_addr.cc
  Napi::Value AddAddress(const Napi::CallbackInfo& info);
  Napi::Value ListAddresses(const Napi::CallbackInfo& info);

  // netlink_route.cc
  Napi::Value AddRoute(const Napi::CallbackInfo& info);
  Napi::Value DeleteRoute(const Napi::CallbackInfo& info);
  Napi::Value ListRoutes(const Napi::CallbackInfo& info);

  // netlink_neigh.cc
  Napi::Value AddNeighbor(const Napi::CallbackInfo& info);
  Napi::Value ListNeighbors(const Napi::CallbackInfo& info);

  // Released by close() or, failing that, when the JS object is collected.
  std::unique_ptr<NlSocket> sock_;
  std::string where_;  // the namespace path, or "current netns", for messages
};

// deleteLinkAsync(name) → Promise<boolean> and openNetlinkAsync(netnsPath) →
// Promise<NetlinkHandle>, in native/netlink_async.cc.
void RegisterNetlinkAsync(Napi::Env env, Napi::Object exports);

}  // namespace strait
