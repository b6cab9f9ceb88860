// Which boot of the machine this is. Endpoint records and leases are stamped with it:
// an ifindex, a veth and the bpffs live only as long as one boot, so a record from an
// earlier boot describes nothing that exists any more (and its ifindex may now name a
// new pod's veth). STRAIT_BOOT_ID overrides the kernel's, so tests can simulate a
// reboot; this is the one place either is read.
import { readFileSync } from 'node:fs';

const KERNEL_BOOT_ID = '/proc/sys/kernel/random/boot_id';

export function currentBootId(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.STRAIT_BOOT_ID?.trim();
  if (override) return override;
  return readFileSync(KERNEL_BOOT_ID, 'utf8').trim();
}
