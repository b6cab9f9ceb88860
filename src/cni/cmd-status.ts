// STATUS: can an ADD succeed now? IPAM must have room and a usable store, the endpoint
// map room for one more pod, and with an agent the agent must be synced,
// since every ADD waits for it (an agent configured but unreachable is STATUS 50:
// docs/architecture.md "Decisions", fail closed).
import * as bpf from '../datapath/bpf.js';
import { openPinnedMap } from '../datapath/loader.js';
import { ENDPOINTS_MAX, MapName } from '../datapath/maps/names.js';
import type { CommandContext } from './context.js';
import { StraitError } from '../errors.js';
import { ipamDriver } from './ipam-driver.js';

export async function cmdStatus(ctx: CommandContext): Promise<void> {
  const ipam = await ipamDriver(ctx);
  ipam.status();
  checkEndpointRoom(ctx.conf.paths.bpfDir);
  const agent = ctx.agent;
  if (agent === null) return;
  const reason = await agent.refusal();
  if (reason === null) return;
  throw new StraitError('E_AGENT_DOWN', `the strait agent on ${agent.where} is not available, so ADD cannot succeed`, { details: reason });
}

/** Nothing pinned yet is room enough: the first ADD creates the map. */
function checkEndpointRoom(bpfDir: string): void {
  const fd = openPinnedMap(bpfDir, 'endpoints');
  if (fd === null) return;
  let used: number;
  try {
    used = bpf.mapKeys(fd).length;
  } finally {
    bpf.closeFd(fd);
  }
  if (used >= ENDPOINTS_MAX) {
    throw new StraitError('E_STATUS_DATAPATH_FULL', `endpoint map ${MapName.endpoints} is full (${used} of ${ENDPOINTS_MAX} entries)`);
  }
}
