// A node's network in memory for src/agent/node-network.ts (NodeNetworkEffects):
// interfaces with addresses, a main routing table whose routes carry a protocol
// (strait's are 200; others belong to someone else and must stay), the VXLAN device,
// from_uplink's attachment, strait_config_v1, strait_remote_v1 and the masquerade
// table. It outlives an agent, as the kernel's state does, and every change is
// logged so a test can say "a restart changed nothing". Any effect can be made to
// fail.
import type { MasqueradeInput, StraitRoute } from '../../src/cluster/nodes.js';
import type { ConfigValue } from '../../src/datapath/maps/config.js';
import { type NodeNetworkEffects, STRAIT_ROUTE_PROTOCOL, type TunnelSpec, type Uplink } from '../../src/agent/node-network.js';

export interface FakeRoute extends StraitRoute {
  protocol: number;
}

export interface FakeLink extends Uplink {
  addresses: string[];
}

export class FakeNodeNetwork implements NodeNetworkEffects {
  readonly links = new Map<string, FakeLink>();
  routes: FakeRoute[] = [];
  tunnel: (TunnelSpec & { ifindex: number }) | null = null;
  /** every attachment of from_uplink, by ifindex */
  attached: number[] = [];
  /** where from_uplink runs now */
  uplinkProgramOn: number | null = null;
  config: ConfigValue | null = null;
  readonly remote = new Map<string, string>();
  masquerade: MasqueradeInput | null | undefined = undefined;
  /** every change, in order: "route add …", "remote set …", … */
  changes: string[] = [];
  /** an effect whose name this returns true for throws */
  failWhen: ((effect: keyof NodeNetworkEffects, arg: string) => boolean) | null = null;
  private nextIfindex = 100;

  addLink(name: string, addresses: string[], mtu = 1500): FakeLink {
    const l = { name, ifindex: this.nextIfindex++, mtu, addresses };
    this.links.set(name, l);
    return l;
  }

  private check(effect: keyof NodeNetworkEffects, arg = ''): void {
    if (this.failWhen?.(effect, arg)) throw new Error(`injected failure: ${effect} ${arg}`.trim());
  }

  private change(text: string): void {
    this.changes.push(text);
  }

  findUplink(addresses: readonly string[], name: string | null): Uplink | null {
    this.check('findUplink');
    const l = name !== null ? this.links.get(name) : [...this.links.values()].find((x) => x.addresses.some((a) => addresses.includes(a)));
    return l === undefined ? null : { name: l.name, ifindex: l.ifindex, mtu: l.mtu };
  }

  listRoutes(): StraitRoute[] {
    this.check('listRoutes');
    return this.routes.filter((r) => r.protocol === STRAIT_ROUTE_PROTOCOL).map(({ dst, gateway, dev }) => ({ dst, gateway, dev }));
  }

  addRoute(r: StraitRoute): void {
    this.check('addRoute', r.dst);
    // The kernel's main table: one route per destination (and metric), whoever made it.
    if (this.routes.some((x) => x.dst === r.dst)) throw new Error(`EEXIST: a route to ${r.dst} exists`);
    this.routes.push({ ...r, protocol: STRAIT_ROUTE_PROTOCOL });
    this.change(`route add ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev}`);
  }

  deleteRoute(r: StraitRoute): void {
    this.check('deleteRoute', r.dst);
    const i = this.routes.findIndex((x) => x.protocol === STRAIT_ROUTE_PROTOCOL && x.dst === r.dst && x.gateway === r.gateway && x.dev === r.dev);
    if (i < 0) throw new Error(`ESRCH: no route ${r.dst}`);
    this.routes.splice(i, 1);
    this.change(`route del ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev}`);
  }

  ensureTunnel(spec: TunnelSpec): number {
    this.check('ensureTunnel');
    if (this.tunnel?.port === spec.port && this.tunnel.mtu === spec.mtu) return this.tunnel.ifindex;
    this.tunnel = { ...spec, ifindex: this.tunnel?.ifindex ?? this.nextIfindex++ };
    this.change(`tunnel ${spec.name} port ${spec.port} mtu ${spec.mtu}`);
    return this.tunnel.ifindex;
  }

  removeTunnel(): boolean {
    this.check('removeTunnel');
    if (this.tunnel === null) return false;
    this.tunnel = null;
    this.change('tunnel removed');
    return true;
  }

  /** as the real one: attaches only where from_uplink does not already run (detachUplink undoes it) */
  attachUplink(ifindex: number): void {
    this.check('attachUplink');
    if (this.uplinkProgramOn === ifindex) return;
    this.uplinkProgramOn = ifindex;
    this.attached.push(ifindex);
  }

  /** someone else's `tc filter del` on the uplink */
  detachUplink(): void {
    this.uplinkProgramOn = null;
  }

  readConfig(): ConfigValue | null {
    this.check('readConfig');
    return this.config === null ? null : { ...this.config };
  }

  writeConfig(c: ConfigValue): void {
    this.check('writeConfig');
    this.config = { ...c };
    this.change(`config ${c.routing} uplink ${c.uplinkIfindex} tunnel ${c.tunnelIfindex}`);
  }

  listRemote(): Map<string, string> {
    this.check('listRemote');
    return new Map(this.remote);
  }

  setRemote(cidr: string, nodeIp: string): void {
    this.check('setRemote', cidr);
    this.remote.set(cidr, nodeIp);
    this.change(`remote set ${cidr} ${nodeIp}`);
  }

  deleteRemote(cidr: string): void {
    this.check('deleteRemote', cidr);
    this.remote.delete(cidr);
    this.change(`remote del ${cidr}`);
  }

  applyMasquerade(m: MasqueradeInput | null): void {
    this.check('applyMasquerade');
    // The real table is adopted when it already holds this; only a change counts.
    if (JSON.stringify(m) !== JSON.stringify(this.masquerade)) this.change(m === null ? 'masquerade off' : `masquerade ${m.podCIDRs.join(',')}`);
    this.masquerade = m === null ? null : { podCIDRs: [...m.podCIDRs], clusterCIDRs: [...m.clusterCIDRs] };
  }
}
