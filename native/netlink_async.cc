// Netlink work that would hold the JS thread for long, done on libuv's pool instead
// (its threads never change namespace: they act in the process's own, and a
// namespace is entered only on a fresh thread of RunInNetns).
//
// openNetlinkAsync(netnsPath): a handle acting in a pod's namespace. Entering it
// takes a thread start and a setns, about a millisecond of an ADD.
//
// deleteLinkAsync(name): RTM_DELLINK off the JS thread. The kernel answers a link
// delete only after its teardown has waited out an RCU grace period (rcu_barrier in
// netdev_run_todo, some 20-30 ms), long after the device left the namespace; on the
// agent's one thread that wait would stall every other call. So the request runs on
// libuv's pool (its threads never change namespace: they act in the process's own)
// with a socket of its own, since an nl_sock is not shared across threads.
#include <napi.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"
#include "netlink.h"
#include "netns.h"
#include "nlsock.h"

namespace strait {

namespace {

// An AsyncWorker whose OnOK settles the promise the JS call returned.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}

  // Queues the worker, which deletes itself once it has settled, and returns its promise.
  static Napi::Promise Start(PromiseWorker* worker) {
    Napi::Promise p = worker->deferred_.Promise();
    worker->Queue();
    return p;
  }

 protected:
  Napi::Promise::Deferred deferred_;
};

class DeleteLinkWorker : public PromiseWorker {
 public:
  DeleteLinkWorker(Napi::Env env, std::string name) : PromiseWorker(env), name_(std::move(name)) {}

  void Execute() override { err_ = Delete(); }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_ == 0 || err_ == ENODEV) {
      deferred_.Resolve(Napi::Boolean::New(env, err_ == 0));
      return;
    }
    std::string msg = "rtnl_link_delete " + name_ + ": " + std::strerror(err_);
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, ErrnoName(err_)));
    e.Set("errno", Napi::Number::New(env, err_));
    e.Set("syscall", Napi::String::New(env, "rtnl_link_delete"));
    deferred_.Reject(e.Value());
  }

 private:
  // 0, or the positive errno of the failure (ENODEV: there was no such link).
  int Delete() const {
    nl_sock* sock = nl_socket_alloc();
    if (!sock) return ENOMEM;
    int rc = nl_connect(sock, NETLINK_ROUTE);
    rtnl_link* link = rc < 0 ? nullptr : rtnl_link_alloc();
    if (rc >= 0 && !link) rc = -NLE_NOMEM;
    if (link) {
      rtnl_link_set_name(link, name_.c_str());
      rc = rtnl_link_delete(sock, link);
      rtnl_link_put(link);
    }
    nl_socket_free(sock);
    return rc < 0 ? NlErrorToErrno(rc) : 0;
  }

  std::string name_;
  int err_ = 0;
};

Napi::Value DeleteLinkAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    ThrowInvalidArg(env, "deleteLinkAsync(name): name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() > 15)
    ThrowInvalidArg(env, "deleteLinkAsync(name): not an interface name");
  return PromiseWorker::Start(new DeleteLinkWorker(env, name));
}

class OpenNetlinkWorker : public PromiseWorker {
 public:
  OpenNetlinkWorker(Napi::Env env, std::string path) : PromiseWorker(env), path_(std::move(path)) {}

  void Execute() override {
    UniqueFd ns;
    openErr_ = TryOpenNetns(path_, &ns, &op_);
    if (openErr_ == 0) sock_ = NlSocket::Connect(ns.get(), &setnsErr_, &nlerr_);
  }

  // Errors as Netlink.open's, so the caller maps them the same way.
  void OnOK() override {
    Napi::Env env = Env();
    if (openErr_ > 0) return deferred_.Reject(ErrnoError(env, openErr_, op_, path_).Value());
    if (openErr_ < 0)
      return deferred_.Reject(
          CodeError(env, kNotNetnsCode, op_, "open " + path_ + ": not a network namespace")
              .Value());
    if (setnsErr_ != 0) return deferred_.Reject(ErrnoError(env, setnsErr_, "setns", path_).Value());
    if (!sock_)
      return deferred_.Reject(
          ErrnoError(env, NlErrorToErrno(nlerr_), "nl_connect", path_, nl_geterror(nlerr_))
              .Value());
    deferred_.Resolve(NetlinkHandle::Wrap(env, sock_, path_));
  }

 private:
  std::string path_;
  const char* op_ = "";
  int openErr_ = 0;
  int setnsErr_ = 0;
  int nlerr_ = 0;
  nl_sock* sock_ = nullptr;
};

Napi::Value OpenNetlinkAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    ThrowInvalidArg(env, "openNetlinkAsync(netnsPath): a path");
  return PromiseWorker::Start(new OpenNetlinkWorker(env, info[0].As<Napi::String>().Utf8Value()));
}

}  // namespace

void RegisterNetlinkAsync(Napi::Env env, Napi::Object exports) {
  exports.Set("deleteLinkAsync", Napi::Function::New<DeleteLinkAsync>(env, "deleteLinkAsync"));
  exports.Set("openNetlinkAsync", Napi::Function::New<OpenNetlinkAsync>(env, "openNetlinkAsync"));
}

}  // namespace strait
