#include "nlconv.h"

#include <netlink/errno.h>
#include <sys/socket.h>

#include <cstring>
#include <functional>

#include "errors.h"

namespace strait {

std::string StringArg(const Napi::Value& v, const char* what) {
  if (!v.IsString()) ThrowInvalidArg(v.Env(), std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::string IfNameArg(const Napi::Value& v, const char* what) {
  std::string name = StringArg(v, what);
  // libnl silently truncates long names; a truncated name would address another link.
  if (name.empty() || name.size() > kMaxIfName || name.find('\0') != std::string::npos)
    ThrowInvalidArg(v.Env(), std::string(what) + " must be 1..15 bytes");
  return name;
}

uint32_t UintArg(const Napi::Value& v, const char* what, uint32_t max) {
  if (!v.IsNumber()) ThrowInvalidArg(v.Env(), std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d)))
    ThrowInvalidArg(v.Env(),
                    std::string(what) + " must be an integer in 0.." + std::to_string(max));
  return static_cast<uint32_t>(d);
}

bool BoolArg(const Napi::Value& v, const char* what) {
  if (!v.IsBoolean()) ThrowInvalidArg(v.Env(), std::string(what) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

namespace {

NlAddrPtr Build(Napi::Env env, int af, const void* bytes, size_t len) {
  NlAddrPtr a(nl_addr_build(af, bytes, len));
  if (!a) ThrowErrno(env, ENOMEM, "nl_addr_build", "");
  return a;
}

}  // namespace

NlAddrPtr IpArg(const Napi::Value& v, const char* what, uint32_t prefixLen) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    ThrowInvalidArg(v.Env(), std::string(what) + " must be a Uint8Array");
  auto bytes = v.As<Napi::Uint8Array>();
  int af = bytes.ByteLength() == 4 ? AF_INET : bytes.ByteLength() == 16 ? AF_INET6 : 0;
  if (!af) ThrowInvalidArg(v.Env(), std::string(what) + " must be 4 or 16 bytes");
  if (prefixLen > bytes.ByteLength() * 8)
    ThrowInvalidArg(v.Env(), std::string(what) + " prefix length out of range");
  NlAddrPtr a = Build(v.Env(), af, bytes.Data(), bytes.ByteLength());
  nl_addr_set_prefixlen(a.get(), static_cast<int>(prefixLen));
  return a;
}

NlAddrPtr AnyAddr(Napi::Env env, int family) {
  static const unsigned char zeros[16] = {};
  NlAddrPtr a = Build(env, family, zeros, family == AF_INET ? 4 : 16);
  nl_addr_set_prefixlen(a.get(), 0);
  return a;
}

NlAddrPtr MacArg(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      v.As<Napi::Uint8Array>().ByteLength() != 6)
    ThrowInvalidArg(v.Env(), std::string(what) + " must be a 6-byte Uint8Array");
  auto bytes = v.As<Napi::Uint8Array>();
  return Build(v.Env(), AF_LLC, bytes.Data(), 6);
}

int FamilyArg(const Napi::Value& v, const char* what) {
  uint32_t f = UintArg(v, what, 6);
  if (f == 4) return AF_INET;
  if (f == 6) return AF_INET6;
  ThrowInvalidArg(v.Env(), std::string(what) + " must be 4 or 6");
}

Napi::Value AddrBytes(Napi::Env env, nl_addr* addr) {
  if (!addr || nl_addr_get_len(addr) == 0) return env.Null();
  return Napi::Buffer<uint8_t>::Copy(
      env, static_cast<const uint8_t*>(nl_addr_get_binary_addr(addr)), nl_addr_get_len(addr));
}

int FamilyNumber(int af) { return af == AF_INET6 ? 6 : af == AF_INET ? 4 : 0; }

std::string AddrText(nl_addr* addr) {
  char buf[64];  // an IPv6 address with its prefix fits easily
  return addr ? nl_addr2str(addr, buf, sizeof buf) : "";
}

int WithDumpRetry(const std::function<int()>& dump) {
  int rc = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    rc = dump();
    if (rc != -NLE_DUMP_INTR) break;
  }
  return rc;
}

}  // namespace strait
