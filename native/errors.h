// JS errors with stable codes. Every failure that leaves the addon is a JS Error
// whose .code is the errno name ('EEXIST', 'ENODEV', ...) or one of ours
// ('ENOTNETNS'), .errno the positive errno and .syscall the operation, so TS can
// branch on codes instead of parsing messages.
#pragma once

#include <napi.h>

#include <string>

namespace strait {

// Our own code for "this path exists but is not a network namespace". Not an errno,
// so it has no .errno; callers map it to CNI's "invalid netns".
constexpr const char* kNotNetnsCode = "ENOTNETNS";

// "EEXIST" for EEXIST; "E<number>" for an errno glibc has no name for.
std::string ErrnoName(int err);

// libnl reports negative NLE_* codes; this maps them back onto the errno the
// kernel (or libc) most likely meant. Unknown codes become EIO.
int NlErrorToErrno(int nlerr);

// The error ThrowErrno throws, for a caller that must reject a promise with it.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& op, const std::string& object,
                       const std::string& detail = "");

// The error ThrowCode throws.
Napi::Error CodeError(Napi::Env env, const std::string& code, const std::string& op,
                      const std::string& message);

// Throws Napi::Error "<op> <object>: <strerror>[: <detail>]" with code/errno/syscall.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& op,
                             const std::string& object, const std::string& detail = "");

// Throws Napi::Error with a non-errno code (no .errno property).
[[noreturn]] void ThrowCode(Napi::Env env, const std::string& code, const std::string& op,
                            const std::string& message);

// Throws Napi::TypeError with code ERR_INVALID_ARG: the TS wrapper validates first,
// so reaching this means a caller bypassed it.
[[noreturn]] void ThrowInvalidArg(Napi::Env env, const std::string& message);

}  // namespace strait
