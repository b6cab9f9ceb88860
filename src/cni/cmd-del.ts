// DEL: idempotent, and it tolerates anything already gone — the netns (containerd's
// second DEL has none), the veth, the lease, the pinned maps — because runtimes
// repeat it. Deleting the host end of the pair removes the pod end and every route
// through it, so DEL never needs to enter the pod's namespace.
//
// Order: datapath entries, veth, record, agent, and the lease last, so the address is
// free only once nothing routes or admits it any more (a new pod given it at once
// must not meet the old pod's entries).
//
// Map entries are found through the live host veth (its name and owner alias), never
// through a record's ifindex alone: after a reboot the record of a pre-reboot
// container names an ifindex that a new pod's veth may have now.
import { Netlink, type LinkInfo } from '../datapath/netlink.js';
import type { EndpointEntry } from '../datapath/endpoints.js';
import { currentBootId } from '../util/boot-id.js';
import { ownerOf, type CommandContext, type Owner } from './context.js';
import { endpointId, ofOtherBoot, readEndpointRecord, removeEndpointRecord, type EndpointRecord } from '../state/endpoint-record.js';
import { ipamDriver } from './ipam-driver.js';
import { forgetEndpoints, forgetLinkEntries } from './fastpath.js';
import { hostVethName, ownerAlias } from '../state/host-veth.js';
import { unwirePod } from './wiring.js';

export async function cmdDel(ctx: CommandContext): Promise<void> {
  const owner = ownerOf(ctx);
  const { stateDir, bpfDir } = ctx.conf.paths;
  const ipam = await ipamDriver(ctx);
  const host = Netlink.open();
  try {
    const record = readEndpointRecord(stateDir, owner, ctx.log);
    const veth = ownersVeth(host, owner);
    const match = entriesOf(host, owner, veth, record, currentBootId(ctx.processEnv));
    const forgotten = match === null ? null : forgetEndpoints(bpfDir, match);
    // Its link entry goes with the veth, whatever the endpoint map still names: a DEL
    // killed after forgetting the entries left the link entry and nothing to find it by.
    if (veth !== null) forgetLinkEntries(bpfDir, [veth.ifindex]);
    const removedVeth = await unwirePod(host, owner, (err) => ctx.log.warn({ err: err.message }, 'deleting the host veth failed late'));
    removeEndpointRecord(stateDir, owner);
    await ctx.agent?.gone(endpointId(owner));
    ipam.del(owner);
    ctx.log.info({ owner, removedVeth, forgotten }, 'endpoint deleted');
  } finally {
    host.close();
  }
}

/**
 * Which endpoint-map entries are this attachment's: those on its live host veth; or,
 * when the veth is gone (an earlier DEL died half-way), those of its record's
 * addresses still pointing at the record's ifindex, if the record is of this boot and
 * no live link has that ifindex. Null when nothing can be the attachment's.
 */
function entriesOf(
  host: Netlink,
  owner: Owner,
  veth: LinkInfo | null,
  record: EndpointRecord | null,
  bootId: string,
): ((e: EndpointEntry) => boolean) | null {
  if (veth !== null) return (e) => e.ifindex === veth.ifindex;
  if (record === null || ofOtherBoot(record, bootId) || record.hostVeth !== hostVethName(owner)) return null;
  if (host.listLinks().some((l) => l.ifindex === record.ifindex)) return null;
  const ips = new Set(record.addresses);
  return (e) => e.ifindex === record.ifindex && ips.has(e.ip);
}

/** The attachment's live host veth: the name is a hash of the owner, and the alias (when the kernel kept one) must agree. */
function ownersVeth(host: Netlink, owner: Owner): LinkInfo | null {
  const link = host.getLink(hostVethName(owner));
  return link !== null && (link.alias === null || link.alias === ownerAlias(owner)) ? link : null;
}
