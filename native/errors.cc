#include "errors.h"

#include <netlink/errno.h>

#include <cerrno>
#include <cstring>

namespace strait {

std::string ErrnoName(int err) {
  // strerrorname_np (glibc >= 2.32) gives the symbolic name without a table of ours.
  const char* name = strerrorname_np(err);
  return name ? std::string(name) : "E" + std::to_string(err);
}

int NlErrorToErrno(int nlerr) {
  switch (nlerr < 0 ? -nlerr : nlerr) {
    case NLE_EXIST: return EEXIST;
    case NLE_OBJ_NOTFOUND: return ENOENT;  // kernel sent ENOENT or ESRCH
    case NLE_NODEV: return ENODEV;
    case NLE_PERM: return EPERM;
    case NLE_NOACCESS: return EACCES;
    case NLE_INVAL: return EINVAL;
    case NLE_MISSING_ATTR: return EINVAL;
    case NLE_BUSY: return EBUSY;
    case NLE_NOADDR: return EADDRNOTAVAIL;
    case NLE_NOMEM: return ENOMEM;
    case NLE_AGAIN: return EAGAIN;
    case NLE_DUMP_INTR: return EAGAIN;  // dump raced with a change; retrying helps
    case NLE_INTR: return EINTR;
    case NLE_OPNOTSUPP: return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
    case NLE_PROTO_MISMATCH: return EPROTONOSUPPORT;
    case NLE_RANGE: return ERANGE;
    case NLE_BAD_SOCK: return EBADF;
    case NLE_MSGSIZE: return EMSGSIZE;
    default: return EIO;
  }
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& op, const std::string& object,
                       const std::string& detail) {
  std::string msg = op;
  if (!object.empty()) msg += " " + object;
  msg += ": ";
  msg += std::strerror(err);
  if (!detail.empty()) msg += " (" + detail + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, op));
  return e;
}

[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& op,
                             const std::string& object, const std::string& detail) {
  throw ErrnoError(env, err, op, object, detail);
}

Napi::Error CodeError(Napi::Env env, const std::string& code, const std::string& op,
                      const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.Set("syscall", Napi::String::New(env, op));
  return e;
}

[[noreturn]] void ThrowCode(Napi::Env env, const std::string& code, const std::string& op,
                            const std::string& message) {
  throw CodeError(env, code, op, message);
}

[[noreturn]] void ThrowInvalidArg(Napi::Env env, const std::string& message) {
  Napi::TypeError e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG"));
  throw e;
}

}  // namespace strait
