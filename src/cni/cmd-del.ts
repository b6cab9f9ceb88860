// DEL: idempotent, and it tolerates anything already gone — the netns (containerd's
// second DEL has none), the veth, the lease, the pinned maps — because runtimes
// repeat it. Deleting the host end of the pair removes the pod end and every route
// through it, so DEL never needs to enter the pod's namespace.
import { Netlink } from '../datapath/netlink.js';
import { ownerOf, type CommandContext } from './context.js';
import { endpointId, readEndpointRecord, removeEndpointRecord } from './endpoint-record.js';
import { ipamDriver } from './ipam-driver.js';
import { tellAgentGone } from './agent-handshake.js';
import { forgetEndpoints } from './fastpath.js';
import { hostVethName, unwirePod } from './wiring.js';

export async function cmdDel(ctx: CommandContext): Promise<void> {
  const owner = ownerOf(ctx);
  const { stateDir, bpfDir } = ctx.conf.paths;
  const ipam = await ipamDriver(ctx);
  ipam.del(owner);
  const host = Netlink.open();
  try {
    // The veth's ifindex names the endpoint's map entries; if the veth is already
    // gone, the record ADD left still knows it.
    const ifindexes = new Set<number>();
    const link = host.getLink(hostVethName(owner));
    if (link !== null) ifindexes.add(link.ifindex);
    const record = readEndpointRecord(stateDir, owner);
    if (record !== null) ifindexes.add(record.ifindex);
    const forgotten = ifindexes.size > 0 ? forgetEndpoints(bpfDir, (e) => ifindexes.has(e.ifindex)) : null;
    const removedVeth = unwirePod(host, owner);
    removeEndpointRecord(stateDir, owner);
    const agent = ctx.conf.paths.agentSocket;
    if (agent !== null) await tellAgentGone(agent, endpointId(owner));
    ctx.log.info({ owner, removedVeth, forgotten }, 'endpoint deleted');
  } finally {
    host.close();
  }
}
