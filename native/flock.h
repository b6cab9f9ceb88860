// Exposes flock(2); see flock.cc.
#pragma once

#include <napi.h>

namespace strait {

void RegisterFlock(Napi::Env env, Napi::Object exports);

}  // namespace strait
