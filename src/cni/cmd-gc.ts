// GC: everything of this network not named in cni.dev/valid-attachments goes —
// leases, endpoint records, map entries of vanished veths, and veths found by the
// owner alias strait stamps on them (which also catches the veth of an ADD killed
// before it wrote anything else), every lease and record of an earlier boot, and
// temp files of lease and record writes whose process was killed half-way (nothing
// else would ever remove them).
import { Netlink } from '../datapath/netlink.js';
import { currentBootId } from '../util/boot-id.js';
import { sweepDeadTempFiles } from '../util/temp-files.js';
import { endpointRecordDir, listEndpointRecords, reclaimOtherBootRecords, removeEndpointRecord } from '../state/endpoint-record.js';
import { forgetEndpoints, forgetLinkEntries, linkEntryIfindexes } from './fastpath.js';
import type { CommandContext } from './context.js';
import { ipamDriver } from './ipam-driver.js';
import { straitLeaseDir } from './ipam-strait.js';
import { hostVethName, parseOwnerAlias } from '../state/host-veth.js';

export async function cmdGc(ctx: CommandContext): Promise<void> {
  const valid = ctx.conf.validAttachments;
  const isValid = (containerId: string, ifname: string) =>
    valid.some((v) => v.containerId === containerId && v.ifname === ifname);
  const ipam = await ipamDriver(ctx);
  const released = ipam.gc(valid);
  const host = Netlink.open();
  try {
    const stale = new Set(released.map((o) => hostVethName(o)));
    for (const link of host.listLinks()) {
      const owner = parseOwnerAlias(link.alias);
      if (owner?.network !== ctx.conf.name) continue;
      if (!isValid(owner.containerId, owner.ifname)) stale.add(link.name);
    }
    for (const name of stale) {
      await host.deleteLinkEarly(name, (err) => ctx.log.warn({ err: err.message, veth: name }, 'deleting a stale veth failed late'));
    }

    // Records of this network whose owner is not valid, and map entries (of any
    // network sharing the pin dir) whose veth no longer exists.
    const { stateDir, bpfDir } = ctx.conf.paths;
    reclaimOtherBootRecords(stateDir, currentBootId(ctx.processEnv));
    for (const r of listEndpointRecords(stateDir, ctx.log)) {
      if (r.network === ctx.conf.name && !isValid(r.containerId, r.ifname)) removeEndpointRecord(stateDir, r);
    }
    // Link entries are read before the links are listed: an entry a parallel ADD
    // writes later is not in this read, and one it wrote earlier has its veth (made
    // before the entry) in the listing. So only entries of vanished veths go.
    const linkEntries = linkEntryIfindexes(bpfDir);
    const live = new Set(host.listLinks().map((l) => l.ifindex));
    const forgotten = forgetEndpoints(bpfDir, (e) => !live.has(e.ifindex));
    forgetLinkEntries(bpfDir, linkEntries.filter((ifindex) => !live.has(ifindex)));
    const tempDirs = [endpointRecordDir(stateDir, ctx.conf.name)];
    if (ctx.conf.ipam.type === 'strait') tempDirs.push(straitLeaseDir(ctx));
    const tempFiles = tempDirs.flatMap(sweepDeadTempFiles);
    ctx.log.info({ released: released.length, vethsRemoved: [...stale], forgotten, tempFiles }, 'gc done');
  } finally {
    host.close();
  }
}
