// Network-namespace handling. A netlink socket is bound for life to the namespace
// of the thread that created it, so to act inside a namespace we create the socket
// on a thread of our own that entered it, and let that thread die. setns is never
// called on the JS main thread or libuv's pool (docs/architecture.md, convention 3): a thread
// that is reused after switching namespace silently runs later work in the wrong
// one.
#pragma once

#include <napi.h>

#include <functional>
#include <string>

namespace strait {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  ~UniqueFd();
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// Opens `path` and checks it really is a network namespace (NS_GET_NSTYPE), so a
// wrong path (a regular file, the mount namespace) fails here with a clear error
// rather than later as a confusing EINVAL from setns or the kernel.
// Throws: code = errno name from open(2) (e.g. 'ENOENT'), or 'ENOTNETNS'.
UniqueFd OpenNetns(Napi::Env env, const std::string& path);

// OpenNetns off the JS thread: 0 and the fd in *out, else the errno of open(2), or
// -1 for "not a network namespace". *op names the step that failed.
int TryOpenNetns(const std::string& path, UniqueFd* out, const char** op);

// Runs `fn` on a fresh thread that first enters the network namespace behind
// `nsFd`; blocks until the thread ends. Returns 0, or the errno of a failed
// setns/thread start (fn then did not run). An exception thrown by fn is rethrown
// here, on the caller's thread. fn must not touch N-API (it is not the JS thread).
int RunInNetns(int nsFd, const std::function<void()>& fn);

}  // namespace strait
