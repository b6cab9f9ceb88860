// One NETLINK_ROUTE socket (libnl nl_sock) and the error reporting around it.
//
// libnl folds the kernel's errno into its own NLE_* codes (ESRCH and ENOENT both
// become NLE_OBJ_NOTFOUND, for instance) and drops the kernel's extended-ack text.
// Both matter to callers ("route already gone" vs "no such table", "why EINVAL?"),
// so an error callback on the socket keeps the raw errno and the kernel's message
// of the last request, and errors prefer those over the NLE_ mapping.
#pragma once

#include <napi.h>
#include <netlink/netlink.h>

#include <functional>
#include <memory>
#include <string>

namespace strait {

class NlSocket {
 public:
  // Creates and connects the socket. nsFd < 0: in the calling thread's namespace;
  // otherwise on a dedicated thread that entered nsFd's network namespace, so the
  // socket acts there for its whole life. Throws a JS error on failure.
  static std::unique_ptr<NlSocket> Open(Napi::Env env, int nsFd, const std::string& where);

  // Open's first half, without N-API (for a worker thread): the connected socket, or
  // null with *setnsErr (errno of entering nsFd) or *nlerr (libnl's) set.
  static nl_sock* Connect(int nsFd, int* setnsErr, int* nlerr);

  // Open's second half, on the JS thread: takes ownership of a connected socket.
  static std::unique_ptr<NlSocket> Adopt(nl_sock* sock);

  ~NlSocket();
  NlSocket(const NlSocket&) = delete;
  NlSocket& operator=(const NlSocket&) = delete;

  nl_sock* get() const { return sock_; }

  // Runs one libnl request (a function returning >= 0 or -NLE_*). Returns 0 on
  // success, else the positive errno it failed with; the details are kept for Throw.
  int Try(const std::function<int()>& request);

  // Try, and throw for any failure.
  void Run(Napi::Env env, const std::string& op, const std::string& object,
           const std::function<int()>& request);

  // Throws the error of the last failed Try as "<op> <object>: <strerror> (...)".
  [[noreturn]] void Throw(Napi::Env env, int err, const std::string& op,
                          const std::string& object) const;

  // The libnl and kernel messages of the last failed Try, for a caller that must
  // run another request (a rollback) before it throws.
  std::string Detail() const;

 private:
  explicit NlSocket(nl_sock* sock);
  static int OnKernelError(struct sockaddr_nl* who, struct nlmsgerr* e, void* arg);

  nl_sock* sock_;
  int lastNlError_ = 0;
  int kernelErrno_ = 0;
  std::string kernelMessage_;
};

}  // namespace strait
