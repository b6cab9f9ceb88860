// Opening and loading BPF objects, and the fds that outlive them through bpffs.
//
// Ownership: the fds of a loaded object belong to libbpf's bpf_object and stay valid
// until its close(); a caller that needs one longer dup()s it (bpfDupFd) or re-gets
// it from its pin. close() is explicit and is NOT done on garbage collection: a
// collected wrapper must never close fd numbers the caller may still hold (and that
// the process may since have reused), so an object nobody closes leaks its fds and
// memory instead. Programs attached to interfaces and maps pinned in bpffs live on
// after close() either way; that is how the datapath survives the agent.
#include "bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"
#include "nlconv.h"

namespace strait {

namespace {

thread_local LibbpfLog* capturing = nullptr;

// A verifier log can run to megabytes; what explains a failure is at its end.
constexpr size_t kMaxLog = 256 * 1024;
constexpr size_t kDigestLines = 8;
constexpr size_t kDigestChars = 1500;

int Print(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level != LIBBPF_WARN) return 0;
  if (capturing == nullptr) return std::vfprintf(stderr, fmt, ap);
  va_list again;
  va_copy(again, ap);
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (n >= 0 && static_cast<size_t>(n) < sizeof buf) {
    capturing->Append(buf);
  } else if (n > 0) {  // the verifier log arrives as one long string
    std::string big(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(big.data(), big.size(), fmt, again);
    big.pop_back();
    capturing->Append(big.c_str());
  }
  va_end(again);
  return n;
}

// The last few non-empty lines of the capture, "libbpf: " prefixes dropped.
std::string Digest(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
    if (!line.empty()) lines.push_back(line);
    start = end + 1;
  }
  std::string out;
  size_t from = lines.size() > kDigestLines ? lines.size() - kDigestLines : 0;
  for (size_t i = from; i < lines.size(); i++) {
    if (!out.empty()) out += "; ";
    out += lines[i];
  }
  if (out.size() > kDigestChars) out = "..." + out.substr(out.size() - kDigestChars);
  return out;
}

struct ObjectState {
  bpf_object* obj;
  std::string path;
};

Napi::Value CloseObject(const Napi::CallbackInfo& info) {
  auto* state = static_cast<ObjectState*>(info.Data());
  if (state->obj != nullptr) {
    bpf_object__close(state->obj);
    state->obj = nullptr;
  }
  return info.Env().Undefined();
}

using MapSizes = std::vector<std::pair<std::string, uint32_t>>;

// {name: entries} -> pairs, read before anything is opened (nothing to leak on a throw).
MapSizes SizesArg(Napi::Env env, const Napi::Value& v) {
  MapSizes out;
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsObject()) ThrowInvalidArg(env, "maxEntries must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array names = o.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    out.emplace_back(name, UintArg(o.Get(name), "maxEntries value", UINT32_MAX));
  }
  return out;
}

// max_entries of the object's maps named in `sizes` (names it lacks are skipped),
// between open and load. 0 or a negative errno.
int SetMaxEntries(bpf_object* obj, const MapSizes& sizes) {
  for (const auto& [name, entries] : sizes) {
    bpf_map* map = bpf_object__find_map_by_name(obj, name.c_str());
    if (map == nullptr) continue;
    int err = bpf_map__set_max_entries(map, entries);
    if (err != 0) return err;
  }
  return 0;
}

// bpfLoadObject(path, pinRoot, maxEntries?) -> { programs: {name: fd}, maps: {name: fd},
// close() }. pin_root_path makes libbpf reuse maps declared LIBBPF_PIN_BY_NAME that
// are already pinned at <pinRoot>/<name> (when type, sizes, max_entries and flags
// match) and pin the ones it creates; a mismatch fails the load, and the captured log
// names the map. maxEntries overrides the compiled max_entries of the maps it names.
Napi::Value LoadObject(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info[0], "path");
  std::string pinRoot = StringArg(info[1], "pinRoot");
  MapSizes sizes = SizesArg(env, info[2]);

  LibbpfLog log;
  bpf_object_open_opts opts{};
  opts.sz = sizeof opts;
  opts.pin_root_path = pinRoot.c_str();
  bpf_object* obj = bpf_object__open_file(path.c_str(), &opts);
  if (obj == nullptr) ThrowBpfErrno(env, errno, "bpf_object__open_file", path, log);
  int err = SetMaxEntries(obj, sizes);
  if (err != 0) {
    bpf_object__close(obj);
    ThrowBpfErrno(env, -err, "bpf_map__set_max_entries", path, log);
  }
  err = bpf_object__load(obj);
  if (err != 0) {
    bpf_object__close(obj);
    ThrowBpfErrno(env, -err, "bpf_object__load", path, log);
  }
  log.Forward();

  Napi::Object programs = Napi::Object::New(env);
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    int fd = bpf_program__fd(prog);
    if (fd >= 0) programs.Set(bpf_program__name(prog), Napi::Number::New(env, fd));
  }
  Napi::Object maps = Napi::Object::New(env);
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    int fd = bpf_map__fd(map);
    if (fd >= 0) maps.Set(bpf_map__name(map), Napi::Number::New(env, fd));
  }

  auto* state = new ObjectState{obj, path};
  Napi::Function close = Napi::Function::New(env, CloseObject, "close", state);
  // Frees only our bookkeeping; see the ownership note at the top of this file.
  close.AddFinalizer([](Napi::Env, ObjectState* s) { delete s; }, state);

  Napi::Object result = Napi::Object::New(env);
  result.Set("programs", programs);
  result.Set("maps", maps);
  result.Set("close", close);
  return result;
}

// bpfPin(fd, path): bpf_obj_pin; the parent directory must be on a bpffs.
Napi::Value Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  std::string path = StringArg(info[1], "path");
  if (bpf_obj_pin(fd, path.c_str()) != 0) ThrowErrno(env, errno, "bpf_obj_pin", path);
  return env.Undefined();
}

// bpfGetPinned(path) -> fd | null (ENOENT).
Napi::Value GetPinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info[0], "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd >= 0) return Napi::Number::New(env, fd);
  int e = errno;
  if (e == ENOENT) return env.Null();
  ThrowErrno(env, e, "bpf_obj_get", path);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  // Linux releases the fd even when close() reports EINTR; retrying could close
  // someone else's. Only EBADF (not open) is worth reporting.
  if (::close(fd) != 0 && errno == EBADF)
    ThrowErrno(env, EBADF, "close", "fd " + std::to_string(fd));
  return env.Undefined();
}

// bpfDupFd(fd) -> a new close-on-exec fd for the same object, owned by the caller.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) ThrowErrno(env, errno, "dup", "fd " + std::to_string(fd));
  return Napi::Number::New(env, dup);
}

}  // namespace

LibbpfLog::LibbpfLog() : prev_(capturing) { capturing = this; }

LibbpfLog::~LibbpfLog() { capturing = prev_; }

void LibbpfLog::Append(const char* s) {
  if (text_.size() < kMaxLog) text_.append(s);
}

void LibbpfLog::Forward() const {
  if (!text_.empty()) std::fputs(text_.c_str(), stderr);
}

[[noreturn]] void ThrowBpfErrno(Napi::Env env, int err, const std::string& op,
                                const std::string& object, const LibbpfLog& log) {
  try {
    ThrowErrno(env, err, op, object, Digest(log.Text()));
  } catch (Napi::Error& e) {
    if (!log.Text().empty()) e.Set("log", Napi::String::New(env, log.Text()));
    throw;
  }
}

int FdArg(const Napi::Value& v, const char* what) {
  return static_cast<int>(UintArg(v, what, INT_MAX));
}

Bytes BytesArg(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    ThrowInvalidArg(v.Env(), std::string(what) + " must be a Uint8Array");
  auto a = v.As<Napi::Uint8Array>();
  return Bytes{a.Data(), a.ByteLength()};
}

void RegisterBpfObject(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(Print);
  exports.Set("bpfLoadObject", Napi::Function::New<LoadObject>(env, "bpfLoadObject"));
  exports.Set("bpfPin", Napi::Function::New<Pin>(env, "bpfPin"));
  exports.Set("bpfGetPinned", Napi::Function::New<GetPinned>(env, "bpfGetPinned"));
  exports.Set("bpfCloseFd", Napi::Function::New<CloseFd>(env, "bpfCloseFd"));
  exports.Set("bpfDupFd", Napi::Function::New<DupFd>(env, "bpfDupFd"));
}

}  // namespace strait
