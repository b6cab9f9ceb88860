// The pod's MTU when the config names none: that of the interface its packets leave
// the node by, as the agent wrote it in strait_config_v1 — the VXLAN device in VXLAN
// mode (the uplink's MTU less the tunnel's 50 bytes), the uplink in native mode — so
// a pod never sends what its path cannot carry. Without an agent's config (one node,
// or the agent not started yet) the kernel's default applies, as before.
import * as bpf from '../datapath/bpf.js';
import { openPinnedMap } from '../datapath/loader.js';
import { CONFIG_KEY, decodeConfigValue } from '../datapath/maps/config.js';
import type { Netlink } from '../datapath/netlink.js';

export function defaultPodMtu(bpfDir: string, host: Netlink): number | null {
  const fd = openPinnedMap(bpfDir, 'config');
  if (fd === null) return null;
  let ifindex: number;
  try {
    const buf = bpf.mapLookup(fd, CONFIG_KEY);
    if (buf === null) return null;
    const config = decodeConfigValue(buf);
    ifindex = config.routing === 'vxlan' ? config.tunnelIfindex : config.routing === 'native' ? config.uplinkIfindex : 0;
  } finally {
    bpf.closeFd(fd);
  }
  if (ifindex === 0) return null;
  return host.listLinks().find((l) => l.ifindex === ifindex)?.mtu ?? null;
}
