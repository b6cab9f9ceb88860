// flock(2) on a file descriptor Node opened: IPAM's store serialises concurrent
// CNI ADDs with it (runtimes call the plugin in parallel), and Node has no flock.
#include "flock.h"

#include <sys/file.h>

#include <cerrno>

#include "errors.h"
#include "nlconv.h"

namespace strait {

namespace {

// flock(fd, 'exclusive' | 'shared' | 'unlock', wait): true when the lock was taken
// (or released), false when wait is false and another open file holds it.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(UintArg(info[0], "fd", 0x7fffffff));
  std::string mode = StringArg(info[1], "mode");
  bool wait = BoolArg(info[2], "wait");
  int op = mode == "exclusive" ? LOCK_EX
           : mode == "shared"  ? LOCK_SH
           : mode == "unlock"  ? LOCK_UN
                               : -1;
  if (op < 0) ThrowInvalidArg(env, "mode must be 'exclusive', 'shared' or 'unlock'");
  if (!wait) op |= LOCK_NB;
  int rc;
  do {
    rc = ::flock(fd, op);  // blocks the JS thread when wait: fine for a short-lived CNI call
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  ThrowErrno(env, errno, "flock", "fd " + std::to_string(fd));
}

}  // namespace

void RegisterFlock(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New<Flock>(env, "flock"));
}

}  // namespace strait
