// Pinned maps and programs must live on a bpf filesystem. The default pin dir sits
// under /sys/fs/bpf, which some hosts (this kind of machine included) do not mount;
// an emulated node may point its pin dir anywhere. Either way the dir is made to be
// on bpffs: an existing bpffs ancestor is used, otherwise a bpffs is mounted there.
import { spawnSync } from 'node:child_process';
import { mkdirSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { StraitError } from '../errors.js';

const BPF_FS_MAGIC = 0xcafe4a11;

export function isOnBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** Makes `dir` exist on a bpf filesystem, mounting one where none is. */
export function ensureBpffs(dir: string): void {
  if (isOnBpffs(dir)) return;
  // The conventional mount point first: /sys/fs/bpf/strait wants /sys/fs/bpf mounted.
  const parent = dirname(dir);
  if (parent === '/sys/fs/bpf' && !isOnBpffs(parent)) mountBpffs(parent);
  if (isOnBpffs(parent)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!isOnBpffs(dir)) mountBpffs(dir);
}

function mountBpffs(path: string): void {
  const r = spawnSync('mount', ['-t', 'bpf', 'bpf', path], { encoding: 'utf8' });
  if (r.status !== 0 || !isOnBpffs(path)) {
    throw new StraitError(
      'E_BPFFS',
      `cannot mount a bpf filesystem at ${path}: ${r.stderr.trim() || r.error?.message || 'unknown error'}`,
    );
  }
}
