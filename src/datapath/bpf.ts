// Typed libbpf for the rest of strait: load and pin objects, attach programs to
// interfaces (classic tc and XDP), operate on maps with raw bytes, and run programs
// on crafted packets. The C++ side (native/bpf_*.cc) is thin; everything is checked
// here before it crosses (docs/architecture.md, convention 2): integers, directions, and buffer
// lengths against the map's real shape.
//
// Errors: the kernel's and libbpf's are SyscallErrors (src/errors.ts): code E_SYSCALL
// (E_NETLINK for tc and XDP attachment), `.errnoName` ('ENOENT', 'EEXIST', ...),
// `.errno` and `.syscall`, and a message naming the operation and the object (path,
// "ifindex 7 ingress handle 1 priority 1", "map fd 12"); a failed load also carries
// libbpf's own explanation in the message and its whole log in `.log`.
// Bad arguments throw InvalidArgError (code ERR_INVALID_ARG); a key or value of the
// wrong length throws BufferLengthError, a RangeError (code ERR_OUT_OF_RANGE).
//
// fd ownership: every fd a function here returns (getPinned, progFdById, dupFd) is
// the caller's, to close with closeFd. The fds inside a LoadedObject are not: they
// belong to libbpf's bpf_object and die with close() — dupFd one that must outlive
// it. Calls are synchronous.
import { native, type NativeBpfObject, type NativeMapInfo, type NativeSkbLayout } from './native.js';
import { BufferLengthError, InvalidArgError, syscall } from '../errors.js';

export { BufferLengthError, InvalidArgError } from '../errors.js';

export type TcDirection = 'ingress' | 'egress';

/** Byte offsets of struct __sk_buff fields, and its size (see skbLayout). */
export type SkbLayout = NativeSkbLayout;

/**
 * fds by program (function) name, e.g. { from_pod: 12 }, and by map name (libbpf's
 * internal .rodata/.bss/.data maps included). close() closes the bpf_object and with
 * it every fd here (idempotent); programs still attached and maps pinned in bpffs
 * live on. Not done on garbage collection: an object never closed keeps its fds for
 * the life of the process.
 */
export type LoadedObject = NativeBpfObject;

/** A map's shape: type is BPF_MAP_TYPE_*, flags its BPF_F_* map_flags. */
export type MapInfo = NativeMapInfo;

export interface ProgInfo {
  id: number;
  name: string;
  /** the kernel's 8-byte program tag, hex */
  tag: string;
  /** BPF_PROG_TYPE_* */
  type: number;
}

export interface TestRunResult {
  retval: number;
  /** the packet as the program left it */
  data: Uint8Array;
  /** the kernel's average per run */
  durationNs: number;
  /** ctx_out, when a ctx was passed in */
  ctx?: Uint8Array;
}

export interface TcOptions {
  /** filter handle, 1..0xffffffff; default 1 */
  handle?: number;
  /** filter priority, 1..65535; default 1 */
  priority?: number;
}

export interface XdpQueryResult {
  progId: number;
  /** how it is attached; 'multi' when several modes each hold a program */
  mode: 'skb' | 'native' | 'hw' | 'multi';
}

// ---- argument checks -------------------------------------------------------

const fail = (what: string, problem: string, value: unknown): never => {
  throw new InvalidArgError(`${what} ${problem}: ${typeof value === 'bigint' ? value : JSON.stringify(value)}`);
};

function int(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    return fail(what, `must be an integer in ${min}..${max}`, value);
  return value;
}

const INT32_MAX = 0x7fffffff;
const fdArg = (fd: unknown, what = 'fd'): number => int(fd, what, 0, INT32_MAX);
const ifindexArg = (i: unknown): number => int(i, 'ifindex', 1, INT32_MAX);
const u32 = (v: unknown, what: string): number => int(v, what, 0, 0xffffffff);

function pathArg(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0'))
    return fail(what, 'must be a non-empty path', value);
  return value;
}

function bytesArg(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) return fail(what, 'must be a Uint8Array', Object.prototype.toString.call(value));
  return value;
}

function boolArg(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') return fail(what, 'must be a boolean', value);
  return value;
}

function direction(value: unknown): TcDirection {
  if (value !== 'ingress' && value !== 'egress') return fail('direction', "must be 'ingress' or 'egress'", value);
  return value;
}

function tcTarget(opts: TcOptions | undefined): { handle: number; priority: number } {
  return {
    handle: int(opts?.handle ?? 1, 'handle', 1, 0xffffffff),
    priority: int(opts?.priority ?? 1, 'priority', 1, 0xffff),
  };
}

function length(buf: Uint8Array, want: number, what: string, info: MapInfo): void {
  if (buf.length !== want)
    throw new BufferLengthError(
      `${what} for map ${JSON.stringify(info.name)} (id ${info.id}) must be ${want} bytes, got ${buf.length}`,
    );
}

// ---- objects and fds -------------------------------------------------------

/**
 * bpf_object__open_file with pin_root_path = pinRoot, then bpf_object__load. Maps
 * declared with LIBBPF_PIN_BY_NAME are reused when already pinned at
 * `<pinRoot>/<name>` with the same type, sizes, max_entries and flags, else created
 * and pinned there; a pinned map whose definition differs fails the load (code
 * EINVAL, message naming the map: "couldn't reuse pinned map at ..."). pinRoot must
 * be a directory on a bpffs. maxEntries ({map name: entries}) replaces the compiled
 * max_entries of the maps it names (bpf_map__set_max_entries before the load); names
 * the object lacks are ignored.
 */
export function loadObject(path: string, opts: { pinRoot: string; maxEntries?: Readonly<Record<string, number>> }): LoadedObject {
  const file = pathArg(path, 'object path');
  const pinRoot = pathArg(opts?.pinRoot, 'pinRoot');
  const sizes: Record<string, number> = {};
  for (const [name, n] of Object.entries(opts.maxEntries ?? {})) sizes[name] = int(n, `maxEntries.${name}`, 1, 0xffffffff);
  const obj: NativeBpfObject = syscall(() => native().bpfLoadObject(file, pinRoot, sizes));
  return {
    programs: Object.freeze({ ...obj.programs }),
    maps: Object.freeze({ ...obj.maps }),
    close: () => obj.close(),
  };
}

/** bpf_obj_pin: the parent directory must be on a bpffs; EEXIST when the path is taken. */
export function pinFd(fd: number, path: string): void {
  syscall(() => native().bpfPin(fdArg(fd), pathArg(path, 'pin path')));
}

/** bpf_obj_get: a new fd (the caller's) for what is pinned at path; null when nothing is. */
export function getPinned(path: string): number | null {
  return syscall(() => native().bpfGetPinned(pathArg(path, 'pin path')));
}

/** close(2); EBADF when fd is not open. */
export function closeFd(fd: number): void {
  syscall(() => native().bpfCloseFd(fdArg(fd)));
}

/** A new fd (the caller's, close-on-exec) for the same program or map, e.g. to outlive LoadedObject.close(). */
export function dupFd(fd: number): number {
  return syscall(() => native().bpfDupFd(fdArg(fd)));
}

// ---- attachment --------------------------------------------------------------

/**
 * A direct-action cls_bpf filter at (ifindex, direction, handle, priority), adding
 * the clsact qdisc when missing. EEXIST when a filter is already there, unless
 * replace: then its program is swapped atomically (BPF_TC_F_REPLACE).
 */
export function tcAttach(
  ifindex: number,
  dir: TcDirection,
  progFd: number,
  opts?: TcOptions & { replace?: boolean },
): void {
  const t = tcTarget(opts);
  const replace = boolArg(opts?.replace ?? false, 'replace');
  syscall(() => native().bpfTcAttach(ifindexArg(ifindex), direction(dir), fdArg(progFd, 'progFd'), t.handle, t.priority, replace));
}

/** Removes that filter (the clsact qdisc stays); false when none was there or the interface is gone. */
export function tcDetach(ifindex: number, dir: TcDirection, opts?: TcOptions): boolean {
  const t = tcTarget(opts);
  return syscall(() => native().bpfTcDetach(ifindexArg(ifindex), direction(dir), t.handle, t.priority));
}

/** The program at that filter; null when none (or no clsact, or no such interface). */
export function tcQuery(ifindex: number, dir: TcDirection, opts?: TcOptions): { progId: number } | null {
  const t = tcTarget(opts);
  const id = syscall(() => native().bpfTcQuery(ifindexArg(ifindex), direction(dir), t.handle, t.priority));
  return id === null ? null : { progId: id };
}

/**
 * XDP in the given mode (absent: the kernel's choice, native where the driver has
 * it). EBUSY when a program is already attached, unless replace.
 */
export function xdpAttach(ifindex: number, progFd: number, opts?: { mode?: 'skb' | 'native'; replace?: boolean }): void {
  const mode = opts?.mode ?? 'auto';
  if (mode !== 'skb' && mode !== 'native' && mode !== 'auto') fail('mode', "must be 'skb' or 'native'", mode);
  const replace = boolArg(opts?.replace ?? false, 'replace');
  syscall(() => native().bpfXdpAttach(ifindexArg(ifindex), fdArg(progFd, 'progFd'), mode, replace));
}

/** Removes the XDP program of every mode that has one; a no-op when none. */
export function xdpDetach(ifindex: number): void {
  syscall(() => native().bpfXdpDetach(ifindexArg(ifindex)));
}

/** The attached XDP program; null when none (or no such interface). */
export function xdpQuery(ifindex: number): XdpQueryResult | null {
  return syscall(() => native().bpfXdpQuery(ifindexArg(ifindex)));
}

// ---- identity ------------------------------------------------------------------

export function mapInfo(fd: number): MapInfo {
  return syscall(() => native().bpfMapInfo(fdArg(fd)));
}

export function progInfo(fd: number): ProgInfo {
  const p = syscall(() => native().bpfProgInfo(fdArg(fd)));
  return { id: p.id, name: p.name, tag: Buffer.from(p.tag).toString('hex'), type: p.type };
}

/** bpf_prog_get_fd_by_id: a new fd (the caller's); ENOENT when no such program. */
export function progFdById(id: number): number {
  return syscall(() => native().bpfProgFdById(int(id, 'program id', 1, 0xffffffff)));
}

let cpus: number | undefined;

/** libbpf_num_possible_cpus: the slot count of every per-CPU map value. */
export function numPossibleCpus(): number {
  cpus ??= syscall(() => native().bpfNumPossibleCpus());
  return cpus;
}

// ---- map elements ------------------------------------------------------------

const UPDATE_FLAGS = new Set(['any', 'noexist', 'exist']);

function checkedKey(fd: number, key: unknown): { fd: number; key: Uint8Array; info: MapInfo } {
  const f = fdArg(fd);
  const k = bytesArg(key, 'key');
  const info = mapInfo(f);
  length(k, info.keySize, 'key', info);
  return { fd: f, key: k, info };
}

/** EEXIST with 'noexist' when present, ENOENT with 'exist' when absent, E2BIG when full. */
export function mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: 'any' | 'noexist' | 'exist' = 'any'): void {
  const c = checkedKey(fd, key);
  const v = bytesArg(value, 'value');
  length(v, c.info.valueLength, 'value', c.info);
  if (!UPDATE_FLAGS.has(flags)) fail('flags', "must be 'any', 'noexist' or 'exist'", flags);
  syscall(() => native().bpfMapUpdate(c.fd, c.key, v, flags));
}

/** The value (all CPUs' slots for per-CPU maps); null when the key is absent. */
export function mapLookup(fd: number, key: Uint8Array): Uint8Array | null {
  const c = checkedKey(fd, key);
  return syscall(() => native().bpfMapLookup(c.fd, c.key));
}

/** false when the key was absent. Arrays cannot delete (EINVAL). */
export function mapDelete(fd: number, key: Uint8Array): boolean {
  const c = checkedKey(fd, key);
  return syscall(() => native().bpfMapDelete(c.fd, c.key));
}

/**
 * Deletes every key (bpf_map_delete_batch where the kernel has it, else one at a
 * time); keys already gone are skipped. Returns how many were there.
 */
export function mapDeleteMany(fd: number, keys: readonly Uint8Array[]): number {
  const f = fdArg(fd);
  if (keys.length === 0) return 0;
  const info = mapInfo(f);
  const all = new Uint8Array(keys.length * info.keySize);
  keys.forEach((k, i) => {
    length(bytesArg(k, 'key'), info.keySize, 'key', info);
    all.set(k, i * info.keySize);
  });
  return syscall(() => native().bpfMapDeleteMany(f, all));
}

/**
 * Every key once, by bpf_map_get_next_key. Tolerates entries coming and going during
 * the walk (the walk restarts when its cursor is deleted, repeats are dropped); a map
 * changing throughout a few restarts fails with EAGAIN.
 */
export function mapKeys(fd: number): Uint8Array[] {
  return syscall(() => native().bpfMapKeys(fdArg(fd)));
}

/**
 * Every entry: bpf_map_lookup_batch for hash, array, LRU and their per-CPU kinds,
 * else (or when the kernel refuses batches: EINVAL, EOPNOTSUPP, EPERM) mapKeys plus a
 * lookup each, skipping keys deleted in between. Not a snapshot: a map written
 * concurrently may show an entry's old or new value.
 */
export function mapDump(fd: number): { key: Uint8Array; value: Uint8Array }[] {
  return syscall(() => native().bpfMapDump(fdArg(fd)));
}

// ---- ring buffers ---------------------------------------------------------------

/** A reader of a BPF_MAP_TYPE_RINGBUF map; see openRingReader. */
export interface RingReader {
  /**
   * Takes every record written so far, up to maxBytes (default 1 MiB) of them:
   * those of the reader's record size back to back, and how many records of another
   * size were passed over. Never blocks.
   */
  consume(maxBytes?: number): { bytes: Uint8Array; skipped: number };
  /** Unmaps the ring; consume() then throws. Idempotent. */
  close(): void;
}

/**
 * Maps a ring buffer map for reading (libbpf's ring_buffer__new). The fd may be
 * closed afterwards: the mapping holds the map. Records of any size but recordSize
 * are counted and skipped, never handed over.
 */
export function openRingReader(mapFd: number, recordSize: number): RingReader {
  const fd = fdArg(mapFd, 'mapFd');
  const size = int(recordSize, 'recordSize', 1, 1 << 20);
  const reader = syscall(() => new (native().BpfRingReader)(fd, size));
  return {
    consume: (maxBytes = 1 << 20) => {
      const max = int(maxBytes, 'maxBytes', size, INT32_MAX);
      return syscall(() => reader.consume(max));
    },
    close: () => reader.close(),
  };
}

// ---- test runs -----------------------------------------------------------------

/**
 * BPF_PROG_TEST_RUN: runs the program `repeat` times (default 1) on `data` (a tc
 * program wants at least an Ethernet header, 14 bytes). ctx goes in as ctx_in and
 * comes back as ctx_out (for tc programs a struct __sk_buff: see skbContext).
 * Output room is data.length + 256 bytes; a program growing the packet beyond that
 * fails with ENOSPC.
 */
export function progTestRun(progFd: number, data: Uint8Array, opts?: { repeat?: number; ctx?: Uint8Array }): TestRunResult {
  const fd = fdArg(progFd, 'progFd');
  const d = bytesArg(data, 'data');
  const repeat = int(opts?.repeat ?? 1, 'repeat', 1, INT32_MAX);
  const ctx = opts?.ctx === undefined ? null : bytesArg(opts.ctx, 'ctx');
  const r = syscall(() => native().bpfProgTestRun(fd, d, repeat, ctx));
  const result: TestRunResult = { retval: r.retval, data: r.data, durationNs: r.durationNs };
  if (r.ctx !== null) result.ctx = r.ctx;
  return result;
}

/**
 * Byte offsets in struct __sk_buff, computed by the addon from the <linux/bpf.h> it
 * was built with (sizeof and offsetof, never hard-coded here). With Debian 12's
 * headers: size 192, mark 8, priority 32, ingressIfindex 36, ifindex 40, cb 48,
 * tstamp 152, wireLen 160.
 */
export function skbLayout(): Readonly<SkbLayout> {
  return native().bpfSkbLayout;
}

/**
 * A ctx_in for a tc test run: a zeroed struct __sk_buff with the given fields (host
 * byte order, as the kernel reads them). The kernel accepts only mark, priority,
 * ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size and hwtstamp
 * non-zero there; an ifindex must name an interface in the caller's namespace
 * (else ENODEV), and the program then sees it as skb->ifindex.
 */
export function skbContext(fields: { ifindex?: number; ingressIfindex?: number; mark?: number }): Uint8Array {
  const layout = skbLayout();
  const buf = new Uint8Array(layout.size);
  const view = new DataView(buf.buffer);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (fields?.ifindex !== undefined) view.setUint32(layout.ifindex, u32(fields.ifindex, 'ifindex'), little);
  if (fields?.ingressIfindex !== undefined)
    view.setUint32(layout.ingressIfindex, u32(fields.ingressIfindex, 'ingressIfindex'), little);
  if (fields?.mark !== undefined) view.setUint32(layout.mark, u32(fields.mark, 'mark'), little);
  return buf;
}
