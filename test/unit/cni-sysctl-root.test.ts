// An agent in a container reaches the host's sysctls through STRAIT_PROC_SYS (the
// runtime mounts /proc/sys read-only there): forwarding and the host veth's router
// settings must be written under it, never under /proc/sys.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ensureForwarding, hardenHostVeth } from '../../src/cni/sysctl.js';
import { cleanupAll, tempDir } from '../helpers/sys.js';

afterAll(cleanupAll);
afterEach(() => {
  delete process.env.STRAIT_PROC_SYS;
});

describe('STRAIT_PROC_SYS', () => {
  it('is where forwarding and the host veth sysctls are written', () => {
    const root = tempDir('proc-sys');
    const file = (p: string, v: string) => {
      mkdirSync(join(root, p, '..'), { recursive: true });
      writeFileSync(join(root, p), v);
    };
    file('net/ipv4/ip_forward', '0\n');
    file('net/ipv6/conf/all/forwarding', '0\n');
    for (const k of ['accept_dad', 'accept_ra', 'autoconf', 'accept_redirects']) file(`net/ipv6/conf/stnotarealveth/${k}`, '1\n');
    file('net/ipv4/conf/stnotarealveth/accept_redirects', '1\n');
    process.env.STRAIT_PROC_SYS = root;
    // The veth first: were the variable ignored, this fails on /proc/sys (no such
    // device) before ensureForwarding could touch the machine's own forwarding.
    hardenHostVeth('stnotarealveth');
    ensureForwarding([4, 6]);
    expect(readFileSync(join(root, 'net/ipv4/ip_forward'), 'utf8')).toBe('1');
    expect(readFileSync(join(root, 'net/ipv6/conf/all/forwarding'), 'utf8')).toBe('1');
    for (const k of ['accept_dad', 'accept_ra', 'autoconf', 'accept_redirects']) expect(readFileSync(join(root, `net/ipv6/conf/stnotarealveth/${k}`), 'utf8')).toBe('0');
    expect(readFileSync(join(root, 'net/ipv4/conf/stnotarealveth/accept_redirects'), 'utf8')).toBe('0');
  });
});
