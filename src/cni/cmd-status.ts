// STATUS: can an ADD succeed now? Answered by IPAM (store usable, pool not exhausted).
import type { CommandContext } from './context.js';
import { ipamDriver } from './ipam-driver.js';

export async function cmdStatus(ctx: CommandContext): Promise<void> {
  const ipam = await ipamDriver(ctx);
  ipam.status();
}
