#include "nlsock.h"

#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "netns.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace strait {

namespace {

// Allocates and connects; returns the socket or sets *nlerr. Runs on whichever
// thread's namespace the socket must belong to.
nl_sock* ConnectHere(int* nlerr) {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) {
    *nlerr = -NLE_NOMEM;
    return nullptr;
  }
  int rc = nl_connect(sock, NETLINK_ROUTE);
  if (rc < 0) {
    nl_socket_free(sock);
    *nlerr = rc;
    return nullptr;
  }
  return sock;
}

}  // namespace

nl_sock* NlSocket::Connect(int nsFd, int* setnsErr, int* nlerr) {
  nl_sock* sock = nullptr;
  *setnsErr = 0;
  *nlerr = 0;
  if (nsFd < 0) return ConnectHere(nlerr);
  *setnsErr = RunInNetns(nsFd, [&] { sock = ConnectHere(nlerr); });
  return sock;
}

std::unique_ptr<NlSocket> NlSocket::Open(Napi::Env env, int nsFd, const std::string& where) {
  int setnsErr = 0;
  int nlerr = 0;
  nl_sock* sock = Connect(nsFd, &setnsErr, &nlerr);
  if (setnsErr != 0) ThrowErrno(env, setnsErr, "setns", where);
  if (!sock) ThrowErrno(env, NlErrorToErrno(nlerr), "nl_connect", where, nl_geterror(nlerr));
  return Adopt(sock);
}

std::unique_ptr<NlSocket> NlSocket::Adopt(nl_sock* sock) {
  // Ask the kernel to explain its refusals (best effort: old kernels lack it).
  int one = 1;
  setsockopt(nl_socket_get_fd(sock), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  std::unique_ptr<NlSocket> self(new NlSocket(sock));
  nl_socket_modify_err_cb(sock, NL_CB_CUSTOM, &NlSocket::OnKernelError, self.get());
  return self;
}

NlSocket::NlSocket(nl_sock* sock) : sock_(sock) {}

NlSocket::~NlSocket() { nl_socket_free(sock_); }

int NlSocket::OnKernelError(struct sockaddr_nl*, struct nlmsgerr* e, void* arg) {
  auto* self = static_cast<NlSocket*>(arg);
  self->kernelErrno_ = -e->error;
  self->kernelMessage_.clear();

  // libnl hands us the payload only; the header (for flags and length) sits right
  // before it. Extended-ack attributes follow the echoed request, which is left
  // out when the kernel capped the ack.
  auto* hdr = reinterpret_cast<nlmsghdr*>(reinterpret_cast<char*>(e) - NLMSG_HDRLEN);
  if (hdr->nlmsg_flags & NLM_F_ACK_TLVS) {
    size_t payload = sizeof(*e);
    if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) payload += e->msg.nlmsg_len - NLMSG_HDRLEN;
    size_t offset = NLMSG_HDRLEN + NLMSG_ALIGN(payload);
    if (offset < hdr->nlmsg_len) {
      auto* attrs = reinterpret_cast<nlattr*>(reinterpret_cast<char*>(hdr) + offset);
      int remaining = static_cast<int>(hdr->nlmsg_len - offset);
      nlattr* a;
      int rem;
      nla_for_each_attr(a, attrs, remaining, rem) {
        if (nla_type(a) == NLMSGERR_ATTR_MSG && nla_len(a) > 0) {
          self->kernelMessage_.assign(static_cast<const char*>(nla_data(a)),
                                      strnlen(static_cast<const char*>(nla_data(a)), nla_len(a)));
        }
      }
    }
  }
  return NL_STOP;  // libnl then returns -nl_syserr2nlerr(error) as usual
}

int NlSocket::Try(const std::function<int()>& request) {
  kernelErrno_ = 0;
  kernelMessage_.clear();
  int rc = request();
  if (rc >= 0) {
    lastNlError_ = 0;
    return 0;
  }
  lastNlError_ = rc;
  // The callback saw the kernel's own errno only when the kernel refused; errors
  // libnl raises itself (bad attribute, no memory) go through the NLE_ table.
  return kernelErrno_ ? kernelErrno_ : NlErrorToErrno(rc);
}

void NlSocket::Run(Napi::Env env, const std::string& op, const std::string& object,
                   const std::function<int()>& request) {
  int err = Try(request);
  if (err) Throw(env, err, op, object);
}

std::string NlSocket::Detail() const {
  std::string detail;
  if (lastNlError_) detail = std::string("libnl: ") + nl_geterror(lastNlError_);
  if (!kernelMessage_.empty())
    detail += (detail.empty() ? "" : "; ") + ("kernel: " + kernelMessage_);
  return detail;
}

void NlSocket::Throw(Napi::Env env, int err, const std::string& op,
                     const std::string& object) const {
  ThrowErrno(env, err, op, object, Detail());
}

}  // namespace strait
