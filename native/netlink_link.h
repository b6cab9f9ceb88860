// Link helpers shared by netlink_link.cc and netlink_vxlan.cc.
#pragma once

#include <napi.h>

#include <string>

#include "nlconv.h"
#include "nlsock.h"

namespace strait {

// MTU bound the kernel could accept for an ethernet-like link.
constexpr uint32_t kMaxMtu = 65535;

// Applies `change` (a fresh rtnl_link with only the fields to change set) to the
// link called `name`. Returns 0 or the errno (details kept on the socket for Throw).
int ChangeLink(NlSocket& s, const std::string& name, rtnl_link* change);

// Deletes the link a failed request left half-made, then throws that request's
// error: a caller that sees an error must not be left with a link it did not get.
[[noreturn]] void UndoLinkAndThrow(Napi::Env env, NlSocket& s, int err, const std::string& op,
                                   const std::string& name);

// { collectMetadata, learning, port } of a vxlan link, else null.
Napi::Value VxlanInfo(Napi::Env env, rtnl_link* link);

}  // namespace strait
