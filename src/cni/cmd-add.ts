// ADD: allocate, wire, report. Every step registers its undo, so a failure at any
// point leaves no lease, interface or route behind — and undoes only what this call
// made: a repeated ADD of a live attachment fails (103, its eth0 exists: the spec
// says an ADD that finds the interface must error) and leaves that attachment whole.
import { Netlink } from '../datapath/netlink.js';
import { Rollback } from '../util/rollback.js';
import { ownerOf, type CommandContext } from './context.js';
import { ipamDriver } from './ipam-driver.js';
import { withoutPrefix } from '../ipam/addr.js';
import { openPodNetnsAsync } from './netns.js';
import { ensureForwarding } from './sysctl.js';
import { hostVethName } from '../state/host-veth.js';
import { GATEWAY, wirePod, type ExtraRoute } from './wiring.js';
import { bitsOf, ipFamily } from '../ipam/addr.js';
import type { Result } from './result.js';
import { attachEndpoint, withDatapath } from './fastpath.js';
import { defaultPodMtu } from './pod-mtu.js';
import { endpointId, reclaimOtherBootRecordsOnce, removeEndpointRecord, writeEndpointRecord } from '../state/endpoint-record.js';
import { currentBootId } from '../util/boot-id.js';

export async function cmdAdd(ctx: CommandContext): Promise<Result> {
  const { env, conf, log } = ctx;
  const owner = ownerOf(ctx);
  const netnsPath = env.netns ?? '';
  const rollback = new Rollback();
  // Config (IPAM ranges included) is validated first, then the namespace is opened:
  // bad input of either kind must fail before any lease exists.
  const ipam = await ipamDriver(ctx);
  const pod = await openPodNetnsAsync(netnsPath);
  const host = Netlink.open();
  const bootId = currentBootId(ctx.processEnv);
  try {
    const reclaimed = reclaimOtherBootRecordsOnce(conf.paths.stateDir, bootId, log);
    if (reclaimed.length > 0) log.info({ records: reclaimed.length }, 'reclaimed endpoint records of earlier boots');
    const requested = [...conf.runtime.ips, ...env.args.ips].map(withoutPrefix);
    const meta = k8sMeta(ctx);
    const leased = ipam.add(owner, requested, { meta, bootId, hostVeth: hostVethName(owner) }, rollback);
    const routes: ExtraRoute[] = [];
    for (const r of leased.routes) {
      const [dst = '', len = ''] = r.dst.split('/');
      routes.push({ family: ipFamily(dst), dst, prefixLen: Number(len) });
    }
    const mtu = conf.mtu ?? defaultPodMtu(conf.paths.bpfDir, host);
    const wired = wirePod(
      host,
      pod,
      // A requested MAC: runtimeConfig.mac wins over CNI_ARGS MAC=, as in the reference plugins.
      { ...owner, netnsPath, mtu, addresses: leased.addresses, routes, mac: conf.runtime.mac ?? env.args.mac ?? null },
      rollback,
    );
    const agent = ctx.agent;
    withDatapath(conf, (dp) => attachEndpoint(dp, wired, leased.addresses, rollback, { ready: agent === null }));
    writeEndpointRecord(conf.paths.stateDir, {
      ...owner,
      bootId,
      netns: netnsPath,
      hostVeth: wired.host.name,
      ifindex: wired.host.ifindex,
      addresses: leased.addresses.map((a) => a.ip),
      podMac: wired.pod.mac,
      k8s: env.args.k8s,
      createdAt: new Date().toISOString(),
    });
    rollback.add('endpoint record', () => removeEndpointRecord(conf.paths.stateDir, owner));
    if (agent !== null) {
      // The agent may hold the endpoint even when the wait fails: withdraw it with the
      // rest, or its policy entries outlive the veth.
      rollback.add('unregister from the agent', () => agent.gone(endpointId(owner)));
      await agent.ready({
        id: endpointId(owner),
        ifindex: wired.host.ifindex,
        ips: leased.addresses.map((a) => a.ip),
        podNamespace: env.args.k8s.namespace ?? null,
        podName: env.args.k8s.name ?? null,
      });
    }
    ensureForwarding(leased.addresses.map((a) => a.family));
    rollback.commit();
    log.info({ owner, addresses: leased.addresses, hostVeth: wired.host.name, k8s: meta }, 'endpoint added');

    const mine: Result = {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: wired.host.name, mac: wired.host.mac },
        { name: wired.pod.name, mac: wired.pod.mac, sandbox: netnsPath, ...(mtu !== null ? { mtu } : {}) },
      ],
      ips: leased.addresses.map((a) => ({
        address: `${a.ip}/${bitsOf(a.family)}`,
        gateway: GATEWAY[a.family],
        interface: 1,
      })),
      routes: defaultRoutes(leased.addresses.map((a) => a.family), routes),
      ...(conf.dns !== null ? { dns: conf.dns } : leased.dns !== undefined ? { dns: leased.dns } : {}),
    };
    return conf.prevResult !== null ? appendTo(conf.prevResult, mine) : mine;
  } catch (err) {
    await rollback.run(log);
    throw err;
  } finally {
    pod.close();
    host.close();
  }
}

function defaultRoutes(families: (4 | 6)[], extra: ExtraRoute[]): NonNullable<Result['routes']> {
  const out: NonNullable<Result['routes']> = [];
  for (const f of [4, 6] as const) {
    if (!families.includes(f)) continue;
    out.push({ dst: f === 4 ? '0.0.0.0/0' : '::/0', gw: GATEWAY[f] });
    for (const r of extra) {
      if (r.family === f && r.prefixLen !== 0) out.push({ dst: `${r.dst}/${r.prefixLen}`, gw: GATEWAY[f] });
    }
  }
  return out;
}

/** As a later plugin in a chain, add ours after what earlier plugins reported. */
function appendTo(prev: Result, mine: Result): Result {
  const offset = prev.interfaces?.length ?? 0;
  return {
    ...prev,
    cniVersion: mine.cniVersion,
    interfaces: [...(prev.interfaces ?? []), ...(mine.interfaces ?? [])],
    ips: [...(prev.ips ?? []), ...(mine.ips ?? []).map((i) => ({ ...i, interface: (i.interface ?? 0) + offset }))],
    routes: [...(prev.routes ?? []), ...(mine.routes ?? [])],
    ...(mine.dns !== undefined ? { dns: mine.dns } : {}),
  };
}

function k8sMeta(ctx: CommandContext): Record<string, string> {
  const k = ctx.env.args.k8s;
  const meta: Record<string, string> = {};
  if (k.namespace !== undefined) meta.K8S_POD_NAMESPACE = k.namespace;
  if (k.name !== undefined) meta.K8S_POD_NAME = k.name;
  if (k.uid !== undefined) meta.K8S_POD_UID = k.uid;
  if (k.infraContainerId !== undefined) meta.K8S_POD_INFRA_CONTAINER_ID = k.infraContainerId;
  return meta;
}
