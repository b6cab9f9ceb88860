// Counts the lease records the disk store keeps for one network, by asking the
// store itself, so tests do not depend on its file naming.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DiskStore } from '../../src/ipam/disk-store.js';

export function leaseCount(stateDir: string, network: string): number {
  const dir = join(stateDir, 'ipam', network);
  if (!existsSync(dir)) return 0;
  const store = new DiskStore(dir, { lock: () => {}, unlock: () => {} });
  return store.list().length;
}
