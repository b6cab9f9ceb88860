// strait.node entry point. Loaded only through src/datapath/native.ts, which
// declares the TypeScript shape of what is registered here.
#include <napi.h>

#include "bpf_object.h"
#include "flock.h"
#include "netlink.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  strait::NetlinkHandle::Register(env, exports);
  strait::RegisterNetlinkAsync(env, exports);
  strait::RegisterFlock(env, exports);
  strait::RegisterBpfObject(env, exports);
  strait::RegisterBpfMap(env, exports);
  strait::RegisterBpfTc(env, exports);
  strait::RegisterBpfProg(env, exports);
  strait::RegisterBpfRing(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(strait, Init)
