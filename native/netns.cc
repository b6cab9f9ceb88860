#include "netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <system_error>
#include <thread>

#include "errors.h"

namespace strait {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int TryOpenNetns(const std::string& path, UniqueFd* out, const char** op) {
  *op = "open";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  UniqueFd owned(fd);
  // Any file answers open(); only nsfs files answer NS_GET_NSTYPE (others: ENOTTY).
  *op = "ioctl(NS_GET_NSTYPE)";
  if (::ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) return -1;
  *out = std::move(owned);
  return 0;
}

UniqueFd OpenNetns(Napi::Env env, const std::string& path) {
  UniqueFd fd;
  const char* op = "";
  int err = TryOpenNetns(path, &fd, &op);
  if (err > 0) ThrowErrno(env, err, op, path);
  if (err < 0) ThrowCode(env, kNotNetnsCode, op, "open " + path + ": not a network namespace");
  return fd;
}

int RunInNetns(int nsFd, const std::function<void()>& fn) {
  int setnsErr = 0;
  std::exception_ptr failure;
  try {
    std::thread worker([&] {
      // This thread is ours alone and ends right after fn, so it never has to
      // switch back; nothing else ever runs in it.
      if (::setns(nsFd, CLONE_NEWNET) != 0) {
        setnsErr = errno;
        return;
      }
      try {
        fn();
      } catch (...) {
        failure = std::current_exception();
      }
    });
    worker.join();
  } catch (const std::system_error& e) {
    return e.code().value() ? e.code().value() : EAGAIN;
  }
  if (failure) std::rethrow_exception(failure);
  return setnsErr;
}

}  // namespace strait
