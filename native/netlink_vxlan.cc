// The VXLAN device of strait's VXLAN mode: one collect_md ("external") device per
// node. BPF sets each packet's tunnel key (remote node, VNI = the source pod's
// identity), so the device itself holds no remote, no VNI and no forwarding table.
#include <linux/if_link.h>
#include <net/if.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/vxlan.h>

#include <cerrno>

#include "errors.h"
#include "netlink.h"
#include "netlink_link.h"

namespace strait {

Napi::Value VxlanInfo(Napi::Env env, rtnl_link* link) {
  if (!rtnl_link_is_vxlan(link)) return env.Null();
  uint32_t port = 0;
  rtnl_link_vxlan_get_port(link, &port);  // host order; stays 0 if the kernel said none
  Napi::Object o = Napi::Object::New(env);
  // The getters return a negative NLE_ code for an attribute the kernel did not send.
  o.Set("collectMetadata", rtnl_link_vxlan_get_collect_metadata(link) > 0);
  o.Set("learning", rtnl_link_vxlan_get_learning(link) > 0);
  o.Set("port", port);
  return o;
}

// createVxlan({ name, port, mtu }): made down, then IPv6 address generation off, then
// up. The order matters: the kernel applies a change's flags before its IFLA_AF_SPEC,
// so "up" in the same request would generate the link-local address (and send DAD,
// RS and MLD from it) before the mode said not to. Any failure after the device
// exists deletes it again.
Napi::Value NetlinkHandle::CreateVxlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowInvalidArg(env, "vxlan must be an object");
  Napi::Object v = info[0].As<Napi::Object>();
  std::string name = IfNameArg(v.Get("name"), "vxlan.name");
  uint32_t port = UintArg(v.Get("port"), "vxlan.port", 65535);
  uint32_t mtu = UintArg(v.Get("mtu"), "vxlan.mtu", kMaxMtu);
  if (port == 0) ThrowInvalidArg(env, "vxlan.port must be 1..65535");
  NlSocket& s = Sock(env, "rtnl_link_add");

  LinkPtr link(rtnl_link_vxlan_alloc());
  if (!link) ThrowErrno(env, ENOMEM, "rtnl_link_vxlan_alloc", name);
  rtnl_link* l = link.get();
  rtnl_link_set_name(l, name.c_str());
  rtnl_link_set_mtu(l, mtu);
  // Nothing behind the device answers ARP or ND: BPF picks the remote per packet.
  rtnl_link_set_flags(l, IFF_NOARP);
  rtnl_link_vxlan_set_collect_metadata(l, 1);
  rtnl_link_vxlan_set_learning(l, 0);
  rtnl_link_vxlan_set_port(l, port);
  std::string what = "vxlan " + name + " dstport " + std::to_string(port);
  // EXCL: an existing link of that name is EEXIST, as is another collect_md device
  // on the same port (the kernel allows one per port and VNI 0).
  s.Run(env, "rtnl_link_add", what,
        [&] { return rtnl_link_add(s.get(), l, NLM_F_CREATE | NLM_F_EXCL); });

  LinkPtr gen(rtnl_link_alloc());
  if (!gen) UndoLinkAndThrow(env, s, ENOMEM, "rtnl_link_alloc", name);
  int err = rtnl_link_inet6_set_addr_gen_mode(gen.get(), IN6_ADDR_GEN_MODE_NONE);
  if (err < 0)
    UndoLinkAndThrow(env, s, NlErrorToErrno(err), "rtnl_link_inet6_set_addr_gen_mode", name);
  err = ChangeLink(s, name, gen.get());
  // EAFNOSUPPORT: below IPv6's minimum MTU (1280) the device has no IPv6 state, so no
  // address to suppress. Raising its MTU later creates that state in the default mode;
  // getLink's ipv6AddrGenMode then tells the caller to replace the device.
  if (err && err != EAFNOSUPPORT)
    UndoLinkAndThrow(env, s, err, "rtnl_link_change", name + " addrgenmode none");

  LinkPtr up(rtnl_link_alloc());
  if (!up) UndoLinkAndThrow(env, s, ENOMEM, "rtnl_link_alloc", name);
  rtnl_link_set_flags(up.get(), IFF_UP);
  err = ChangeLink(s, name, up.get());
  if (err) UndoLinkAndThrow(env, s, err, "rtnl_link_change", name + " up");
  return env.Undefined();
}

}  // namespace strait
