// DEL: idempotent, and it tolerates anything already gone — the netns (containerd's
// second DEL has none), the veth, the lease — because runtimes repeat it. Deleting
// the host end of the pair removes the pod end and every route through it, so DEL
// never needs to enter the pod's namespace.
import { Netlink } from '../datapath/netlink.js';
import { ownerOf, type CommandContext } from './context.js';
import { ipamDriver } from './ipam-driver.js';
import { unwirePod } from './wiring.js';

export async function cmdDel(ctx: CommandContext): Promise<void> {
  const owner = ownerOf(ctx);
  const ipam = await ipamDriver(ctx);
  ipam.del(owner);
  const host = Netlink.open();
  try {
    const removedVeth = unwirePod(host, owner);
    ctx.log.info({ owner, removedVeth }, 'endpoint deleted');
  } finally {
    host.close();
  }
}
