// Map info and element operations on raw bytes. Keys and values cross as
// Uint8Arrays laid out exactly as the kernel wants them; their meaning lives in TS
// (docs/architecture.md, convention 1). Per-CPU maps take and return one slot per possible CPU,
// each valueSize rounded up to 8 bytes.
//
// Every operation asks the kernel for the map's shape first, so a buffer of the
// wrong length is refused here instead of letting the kernel read or write past it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <unordered_set>
#include <vector>

#include "bpf_object.h"
#include "errors.h"
#include "nlconv.h"

namespace strait {

namespace {

// The kernel-internal ENOTSUPP some map ops leak to userspace.
constexpr int kKernelEnotsupp = 524;

// A walk restarted this many times (the map changed under it each time) gives up.
constexpr size_t kMaxPasses = 4;

const int kPercpuTypes[] = {
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE,
};

std::string FdName(int fd) { return "map fd " + std::to_string(fd); }

int PossibleCpus(Napi::Env env) {
  int n = libbpf_num_possible_cpus();
  if (n <= 0) ThrowErrno(env, n < 0 ? -n : EIO, "libbpf_num_possible_cpus", "");
  return n;
}

struct Shape {
  bpf_map_info info;
  size_t keyLen;
  size_t valueLen;  // what one lookup/update moves: all CPUs' slots for per-CPU maps
};

bpf_map_info MapInfoOf(Napi::Env env, int fd, const char* op) {
  bpf_map_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) ThrowErrno(env, errno, op, FdName(fd));
  return info;
}

Shape ShapeOf(Napi::Env env, int fd, const char* op) {
  Shape s{MapInfoOf(env, fd, op), 0, 0};
  s.keyLen = s.info.key_size;
  s.valueLen = s.info.value_size;
  if (std::find(std::begin(kPercpuTypes), std::end(kPercpuTypes), static_cast<int>(s.info.type)) !=
      std::end(kPercpuTypes))
    s.valueLen = ((s.valueLen + 7) / 8 * 8) * static_cast<size_t>(PossibleCpus(env));
  return s;
}

// A key argument of exactly the map's key size; nullptr for keyless maps (queue/stack).
void* KeyArg(const Napi::Value& v, const Shape& s) {
  Bytes key = BytesArg(v, "key");
  if (key.len != s.keyLen)
    ThrowInvalidArg(v.Env(), "key must be " + std::to_string(s.keyLen) + " bytes, got " +
                                 std::to_string(key.len));
  return s.keyLen == 0 ? nullptr : key.data;
}

Napi::Value Copy(Napi::Env env, const uint8_t* p, size_t len) {
  return Napi::Buffer<uint8_t>::Copy(env, p, len);
}

Napi::Value MapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Shape s = ShapeOf(env, FdArg(info[0], "fd"), "bpf_obj_get_info_by_fd");
  const bpf_map_info& m = s.info;
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", m.id);
  o.Set("name", std::string(m.name, strnlen(m.name, sizeof m.name)));
  o.Set("type", m.type);
  o.Set("keySize", m.key_size);
  o.Set("valueSize", m.value_size);
  // The one place the per-CPU value length is computed; TS reads it from here.
  o.Set("valueLength", static_cast<double>(s.valueLen));
  o.Set("maxEntries", m.max_entries);
  o.Set("flags", m.map_flags);
  return o;
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), PossibleCpus(info.Env()));
}

// bpfMapUpdate(fd, key, value, 'any' | 'noexist' | 'exist')
Napi::Value Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  Shape s = ShapeOf(env, fd, "bpf_map_update_elem");
  void* key = KeyArg(info[1], s);
  Bytes value = BytesArg(info[2], "value");
  if (value.len != s.valueLen)
    ThrowInvalidArg(env, "value must be " + std::to_string(s.valueLen) + " bytes, got " +
                             std::to_string(value.len));
  std::string mode = StringArg(info[3], "flags");
  __u64 flags = BPF_ANY;
  if (mode == "noexist") {
    flags = BPF_NOEXIST;
  } else if (mode == "exist") {
    flags = BPF_EXIST;
  } else if (mode != "any") {
    ThrowInvalidArg(env, "flags must be 'any', 'noexist' or 'exist'");
  }
  if (bpf_map_update_elem(fd, key, value.data, flags) != 0)
    ThrowErrno(env, errno, "bpf_map_update_elem", FdName(fd));
  return env.Undefined();
}

// bpfMapLookup(fd, key) -> value | null (ENOENT)
Napi::Value Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  Shape s = ShapeOf(env, fd, "bpf_map_lookup_elem");
  void* key = KeyArg(info[1], s);
  std::vector<uint8_t> value(s.valueLen);
  if (bpf_map_lookup_elem(fd, key, value.data()) != 0) {
    int e = errno;
    if (e == ENOENT) return env.Null();
    ThrowErrno(env, e, "bpf_map_lookup_elem", FdName(fd));
  }
  return Copy(env, value.data(), value.size());
}

// bpfMapDelete(fd, key) -> false when there was no such key
Napi::Value Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  Shape s = ShapeOf(env, fd, "bpf_map_delete_elem");
  void* key = KeyArg(info[1], s);
  if (bpf_map_delete_elem(fd, key) == 0) return Napi::Boolean::New(env, true);
  int e = errno;
  if (e == ENOENT) return Napi::Boolean::New(env, false);
  ThrowErrno(env, e, "bpf_map_delete_elem", FdName(fd));
}

// Every key, each once, by bpf_map_get_next_key. Entries may come and go during the
// walk: hash maps answer a vanished cursor with their first key (so keys repeat and
// are de-duplicated here), other kinds may answer ENOENT, which looks like the end;
// when the cursor key is indeed gone the walk starts over. A map that keeps
// changing faster than it can be walked fails with EAGAIN rather than looping.
std::vector<std::vector<uint8_t>> WalkKeys(Napi::Env env, int fd, const Shape& s) {
  std::vector<std::vector<uint8_t>> keys;
  std::unordered_set<std::string> seen;
  std::vector<uint8_t> cur(s.keyLen), next(s.keyLen), value(s.valueLen);
  size_t maxSteps = kMaxPasses * (static_cast<size_t>(s.info.max_entries) + 1);
  size_t passes = 1;
  bool atStart = true;
  for (size_t steps = 0;; steps++) {
    if (steps > maxSteps)
      ThrowErrno(env, EAGAIN, "bpf_map_get_next_key", FdName(fd),
                 "map changed throughout the walk");
    if (bpf_map_get_next_key(fd, atStart ? nullptr : cur.data(), next.data()) != 0) {
      int e = errno;
      if (e != ENOENT) ThrowErrno(env, e, "bpf_map_get_next_key", FdName(fd));
      if (atStart) break;
      bool cursorGone = bpf_map_lookup_elem(fd, cur.data(), value.data()) != 0 && errno == ENOENT;
      if (!cursorGone) break;
      if (++passes > kMaxPasses)
        ThrowErrno(env, EAGAIN, "bpf_map_get_next_key", FdName(fd),
                   "map changed throughout the walk");
      atStart = true;
      continue;
    }
    atStart = false;
    if (seen.emplace(reinterpret_cast<const char*>(next.data()), next.size()).second)
      keys.push_back(next);
    cur.swap(next);
  }
  return keys;
}

Napi::Value Keys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  Shape s = ShapeOf(env, fd, "bpf_map_get_next_key");
  auto keys = WalkKeys(env, fd, s);
  Napi::Array out = Napi::Array::New(env, keys.size());
  for (size_t i = 0; i < keys.size(); i++) out.Set(i, Copy(env, keys[i].data(), keys[i].size()));
  return out;
}

struct Entries {
  std::vector<uint8_t> keys;
  std::vector<uint8_t> values;
  size_t count = 0;
};

bool Batchable(__u32 type) {
  switch (type) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH: return true;
    default: return false;
  }
}

// bpf_map_lookup_batch until the kernel says ENOENT (that chunk may still carry
// entries). false, with nothing read, when the kernel or map kind does not do
// batches; the caller then walks keys instead.
bool DumpBatched(Napi::Env env, int fd, const Shape& s, Entries& out) {
  size_t chunk = std::clamp<size_t>(s.info.max_entries, 1, 256);
  // The resume token is opaque: a bucket number for hash maps, a key for arrays.
  std::vector<uint8_t> in(std::max<size_t>(s.keyLen, 8)), token(in.size());
  bool first = true;
  for (;;) {
    out.keys.resize((out.count + chunk) * s.keyLen);
    out.values.resize((out.count + chunk) * s.valueLen);
    __u32 count = static_cast<__u32>(chunk);
    bpf_map_batch_opts opts{};
    opts.sz = sizeof opts;
    int rc = bpf_map_lookup_batch(fd, first ? nullptr : in.data(), token.data(),
                                  out.keys.data() + out.count * s.keyLen,
                                  out.values.data() + out.count * s.valueLen, &count, &opts);
    int e = rc != 0 ? errno : 0;
    if (e != 0 && e != ENOENT) {
      // A hash bucket holding more entries than fit in one chunk: retry it bigger.
      if (e == ENOSPC && chunk < (size_t{1} << 20)) {
        chunk *= 2;
        continue;
      }
      if (first && (e == EINVAL || e == EOPNOTSUPP || e == EPERM || e == kKernelEnotsupp)) {
        out = Entries{};
        return false;
      }
      ThrowErrno(env, e, "bpf_map_lookup_batch", FdName(fd));
    }
    out.count += count;
    if (e == ENOENT) break;
    in.swap(token);
    first = false;
  }
  out.keys.resize(out.count * s.keyLen);
  out.values.resize(out.count * s.valueLen);
  return true;
}

void DumpWalked(Napi::Env env, int fd, const Shape& s, Entries& out) {
  std::vector<uint8_t> value(s.valueLen);
  for (const auto& key : WalkKeys(env, fd, s)) {
    if (bpf_map_lookup_elem(fd, key.data(), value.data()) != 0) {
      int e = errno;
      if (e == ENOENT) continue;  // deleted since the walk saw it
      ThrowErrno(env, e, "bpf_map_lookup_elem", FdName(fd));
    }
    out.keys.insert(out.keys.end(), key.begin(), key.end());
    out.values.insert(out.values.end(), value.begin(), value.end());
    out.count++;
  }
}

// bpfMapDump(fd) -> [{ key, value }]
Napi::Value Dump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  Shape s = ShapeOf(env, fd, "bpf_map_lookup_batch");
  Entries entries;
  if (!Batchable(s.info.type) || !DumpBatched(env, fd, s, entries)) DumpWalked(env, fd, s, entries);
  Napi::Array out = Napi::Array::New(env, entries.count);
  for (size_t i = 0; i < entries.count; i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("key", Copy(env, entries.keys.data() + i * s.keyLen, s.keyLen));
    o.Set("value", Copy(env, entries.values.data() + i * s.valueLen, s.valueLen));
    out.Set(i, o);
  }
  return out;
}

// Deletes keys[from..n) one syscall each; returns how many were there.
size_t DeleteEach(Napi::Env env, int fd, const Shape& s, const uint8_t* keys, size_t from,
                  size_t n) {
  size_t deleted = 0;
  for (size_t i = from; i < n; i++) {
    if (bpf_map_delete_elem(fd, keys + i * s.keyLen) == 0) {
      deleted++;
    } else if (errno != ENOENT) {
      ThrowErrno(env, errno, "bpf_map_delete_elem", FdName(fd));
    }
  }
  return deleted;
}

// bpfMapDeleteMany(fd, keys) -> how many were there. keys: n keys back to back. By
// bpf_map_delete_batch where the kernel has it; it stops at a key that is gone (a
// datapath LRU may evict one meanwhile), which is skipped and the batch resumed.
Napi::Value DeleteMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info[0], "fd");
  Shape s = ShapeOf(env, fd, "bpf_map_delete_batch");
  Bytes keys = BytesArg(info[1], "keys");
  if (s.keyLen == 0 || keys.len % s.keyLen != 0)
    ThrowInvalidArg(env, "keys must be a whole number of " + std::to_string(s.keyLen) +
                             "-byte keys, got " + std::to_string(keys.len) + " bytes");
  size_t n = keys.len / s.keyLen;
  // Only hash kinds: arrays cannot delete, and some kernels' array batch says it did.
  bool hash = s.info.type == BPF_MAP_TYPE_HASH || s.info.type == BPF_MAP_TYPE_LRU_HASH ||
              s.info.type == BPF_MAP_TYPE_PERCPU_HASH ||
              s.info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
  if (!hash)
    return Napi::Number::New(env, static_cast<double>(DeleteEach(env, fd, s, keys.data, 0, n)));
  size_t done = 0, deleted = 0;
  while (done < n) {
    __u32 count = static_cast<__u32>(std::min<size_t>(n - done, UINT32_MAX));
    bpf_map_batch_opts opts{};
    opts.sz = sizeof opts;
    int rc = bpf_map_delete_batch(fd, keys.data + done * s.keyLen, &count, &opts);
    done += count;
    deleted += count;
    if (rc == 0) continue;
    int e = errno;
    if (e == ENOENT) {
      done++;  // that one was gone already
    } else if (e == EINVAL || e == EOPNOTSUPP || e == EPERM || e == kKernelEnotsupp) {
      deleted += DeleteEach(env, fd, s, keys.data, done, n);
      break;
    } else {
      ThrowErrno(env, e, "bpf_map_delete_batch", FdName(fd));
    }
  }
  return Napi::Number::New(env, static_cast<double>(deleted));
}

}  // namespace

void RegisterBpfMap(Napi::Env env, Napi::Object exports) {
  exports.Set("bpfMapInfo", Napi::Function::New<MapInfo>(env, "bpfMapInfo"));
  exports.Set("bpfNumPossibleCpus",
              Napi::Function::New<NumPossibleCpus>(env, "bpfNumPossibleCpus"));
  exports.Set("bpfMapUpdate", Napi::Function::New<Update>(env, "bpfMapUpdate"));
  exports.Set("bpfMapLookup", Napi::Function::New<Lookup>(env, "bpfMapLookup"));
  exports.Set("bpfMapDelete", Napi::Function::New<Delete>(env, "bpfMapDelete"));
  exports.Set("bpfMapDeleteMany", Napi::Function::New<DeleteMany>(env, "bpfMapDeleteMany"));
  exports.Set("bpfMapKeys", Napi::Function::New<Keys>(env, "bpfMapKeys"));
  exports.Set("bpfMapDump", Napi::Function::New<Dump>(env, "bpfMapDump"));
}

}  // namespace strait
