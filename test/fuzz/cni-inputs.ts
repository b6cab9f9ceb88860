// Generators of what a runtime hands the CNI plugin: the CNI_* environment and the
// network configuration on stdin. Each starts from something a real runtime sends
// (containerd, podman, libcni's GC) and then breaks one thing, so most cases get
// deep into the parsers instead of failing on the first byte; plain random JSON
// and bytes cover the rest.
import fc from 'fast-check';
import { CNI_COMMANDS } from '../../src/cni/env.js';
import { SUPPORTED_VERSIONS } from '../../src/cni/version.js';
import { hostileValue, mostly, mutate, mutationOp, type Json, type JsonObject } from './mutate.js';


const idChars = fc.constantFrom(...'abcdefABCDEF0123456789_.-');
const alnum = fc.constantFrom(...'abcdef0123456789');
/** A CNI container ID or network name: valid most of the time, any length up to 300. */
export const cniId = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(alnum, fc.string({ unit: idChars, maxLength: 70 })).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: fc.integer({ min: 95, max: 300 }).map((n) => 'c'.repeat(n)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
);

const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const v6 = fc.ipV6();
/** Addresses in the forms the parsers see, and near misses. */
export const ipText = fc.oneof(v4, v6, fc.ipV4Extended(), fc.constantFrom('', '::', '0.0.0.0', '1.2.3', '1.2.3.4.5', '10.1.0.08', 'fe80::1%eth0'));
export const cidrText = fc.oneof(
  fc.tuple(v4, fc.integer({ min: 0, max: 34 })).map(([a, l]) => `${a}/${l}`),
  fc.tuple(v6, fc.integer({ min: 0, max: 130 })).map(([a, l]) => `${a}/${l}`),
  fc.constantFrom('10.1.0.0/24', 'fd00:1::/64', '10.1.0.0/31', '0.0.0.0/0', '::/0', '10.1.0.0/-1', '10.1.0.0/', '/24', '10.1.0.0/24/1'),
  ipText,
);
export const macText = mostly(fc.constantFrom('02:42:ac:11:00:02', '0A:58:0A:F4:02:0A'), fc.oneof(
  fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')),
  fc.constantFrom('02:42:ac:11:00:02', '00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '02-42-ac-11-00-02', '02:42:ac:11:00', ''),
));
export const ifname = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('eth0', 'eth1', 'net1', 'e'.repeat(15)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '.', '..', 'a/b', 'a:b', 'a b', 'é'.repeat(8), 'e'.repeat(16)) },
);
const path = fc.oneof(fc.constantFrom('/var/run/netns/cni-1', '/proc/1/ns/net', ''), fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }).map((s) => `/${s}`));

/** CNI_ARGS as runtimes send it (known keys, IgnoreUnknown anywhere) and broken forms. */
export const cniArgs = fc.oneof(
  fc
    .array(
      fc.oneof(
        fc.tuple(fc.constantFrom('K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_UID', 'K8S_POD_INFRA_CONTAINER_ID'), fc.string({ maxLength: 12 })),
        fc.tuple(fc.constant('IgnoreUnknown'), fc.constantFrom('1', 'true', 'True', '0', 'false', 'yes', '')),
        fc.tuple(fc.constant('IP'), fc.array(fc.oneof(ipText, cidrText), { maxLength: 3 }).map((a) => a.join(','))),
        fc.tuple(fc.constant('MAC'), macText),
        fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })),
      ),
      { maxLength: 6 },
    )
    .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join(';')),
  fc.string({ maxLength: 40 }),
);

/** The CNI_* environment: a plausible call, each variable sometimes replaced or dropped. */
export const cniEnv = fc
  .record(
    {
      CNI_COMMAND: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...CNI_COMMANDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
      CNI_CONTAINERID: cniId,
      CNI_NETNS: path,
      CNI_IFNAME: ifname,
      CNI_ARGS: cniArgs,
      CNI_PATH: fc.oneof(fc.constantFrom('/opt/cni/bin', '/usr/lib/cni:/opt/cni/bin', '::'), fc.string({ maxLength: 12 })),
      STRAIT_STATE_DIR: fc.oneof(fc.constant('/var/lib/strait'), fc.string({ maxLength: 8 })),
    },
    { requiredKeys: ['CNI_COMMAND'] },
  )
  .map((e) => e as Record<string, string>);

// ---- the network configuration ----------------------------------------------------

const goodSubnet = fc.constantFrom('198.18.0.0/24', '10.1.0.0/16', 'fd00:18::/64', '198.18.4.0/30', 'fd00:19::/120');
const rangeObj = mostly(
  fc.record({ subnet: goodSubnet, rangeStart: fc.constantFrom('198.18.0.10', '10.1.0.5') }, { requiredKeys: ['subnet'] }),
  fc.record({ subnet: cidrText, gateway: ipText, rangeStart: ipText, rangeEnd: ipText }, { requiredKeys: ['subnet'] }),
);
const route = fc.record({ dst: cidrText, gw: ipText, mtu: fc.integer() }, { requiredKeys: ['dst'] });
const straitIpam = fc.record(
  {
    type: fc.constant('strait'),
    ranges: fc.array(fc.array(rangeObj, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 }),
    routes: fc.array(mostly(fc.record({ dst: fc.constantFrom('0.0.0.0/0', '10.96.0.0/12', '::/0') }), route), { maxLength: 2 }),
    dataDir: mostly(fc.constant('/var/lib/cni/networks'), fc.string({ maxLength: 6 })),
  },
  { requiredKeys: ['type', 'ranges'] },
);
/** host-local's single-range form directly under ipam. */
const legacyIpam = fc.tuple(rangeObj).map(([r]) => ({ type: 'strait', ...r }));
const delegatedIpam = fc.record({ type: fc.constantFrom('host-local', 'dhcp', 'static'), subnet: cidrText });
export const ipam = fc.oneof(straitIpam, legacyIpam, delegatedIpam);

const dns = fc.record({
  nameservers: fc.array(ipText, { maxLength: 3 }),
  domain: fc.string({ maxLength: 10 }),
  search: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
  options: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
});

/** runtimeConfig as containerd (Go-cased keys), podman and libcni capabilities fill it. */
const runtimeConfig = fc.record({
  ips: fc.array(fc.oneof(ipText, cidrText), { maxLength: 2 }),
  mac: macText,
  Mac: mostly(fc.constant(undefined), macText),
  portMappings: fc.array(fc.record({ hostPort: fc.integer({ min: 0, max: 70000 }), containerPort: fc.integer(), protocol: fc.constantFrom('tcp', 'udp') }), { maxLength: 2 }),
  bandwidth: fc.record({ ingressRate: fc.integer(), egressRate: fc.integer() }),
  'io.kubernetes.cri.pod-annotations': fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }),
});

/** A result of `version`'s shape: ips carry `version` before 1.0.0; 1.1.0 fields may appear. */
const result = (version: string) => {
  const legacy = version < '1.0.0';
  return fc.record(
    {
      cniVersion: fc.oneof({ weight: 5, arbitrary: fc.constant(version) }, { weight: 1, arbitrary: fc.constantFrom(...SUPPORTED_VERSIONS, '0.2.0', '2.0.0', '') }),
      interfaces: fc.array(
        fc.record({ name: ifname, mac: macText, sandbox: path, mtu: mostly(fc.constant(1500), fc.integer({ min: -1, max: 70000 })), socketPath: path, pciID: fc.string({ maxLength: 8 }) }, { requiredKeys: ['name'] }),
        { minLength: 1, maxLength: 3 },
      ),
      ips: fc.array(
        fc.record(
          {
            address: mostly(fc.constantFrom('198.18.0.5/24', 'fd00:18::5/64'), cidrText),
            gateway: mostly(fc.constantFrom('198.18.0.1', 'fd00:18::1'), ipText),
            interface: mostly(fc.constant(0), fc.integer({ min: -1, max: 4 })),
            ...(legacy ? { version: mostly(fc.constantFrom('4', '6'), fc.constantFrom('5', 4)) } : {}),
          },
          { requiredKeys: ['address'] },
        ),
        { maxLength: 3 },
      ),
      routes: fc.array(
        mostly(
          fc.record({ dst: fc.constantFrom('0.0.0.0/0', '::/0'), gw: fc.constantFrom('198.18.0.1', 'fd00:18::1') }, { requiredKeys: ['dst'] }),
          fc.record({ dst: cidrText, gw: ipText, mtu: fc.integer(), advmss: fc.integer(), priority: fc.integer(), table: fc.integer(), scope: fc.integer({ min: -1, max: 300 }) }, { requiredKeys: ['dst'] }),
        ),
        { maxLength: 3 },
      ),
      dns,
    },
    { requiredKeys: [] },
  );
};

const attachments = fc.array(mostly(fc.record({ containerID: cniId, ifname }), fc.record({ containerID: cniId, ifname }, { requiredKeys: [] })), { maxLength: 3 });

/** A whole network configuration of one version, as libcni hands it to one plugin. */
export const netConf = fc.constantFrom(...SUPPORTED_VERSIONS).chain((version) =>
  fc.record(
    {
      cniVersion: fc.constant(version),
      name: mostly(fc.constantFrom('strait', 'k8s-pod-network', 'n'), cniId),
      type: fc.constant('strait'),
      ipam,
      mtu: mostly(fc.integer({ min: 68, max: 9000 }), fc.integer({ min: -1, max: 70000 })),
      stateDir: mostly(fc.constant('/var/lib/strait'), fc.string({ maxLength: 6 })),
      bpfDir: mostly(fc.constant('/sys/fs/bpf/strait'), fc.string({ maxLength: 6 })),
      agentSocket: mostly(fc.constant('/run/strait/agent.sock'), fc.string({ maxLength: 6 })),
      logFile: mostly(fc.constant('/var/log/strait.log'), fc.string({ maxLength: 6 })),
      logLevel: mostly(fc.constantFrom('debug', 'info', 'silent'), fc.string({ maxLength: 6 })),
      dns,
      args: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 })),
      ipMasq: mostly(fc.constant(false), fc.oneof(fc.constant(true), fc.string({ maxLength: 3 }))),
      capabilities: fc.dictionary(fc.constantFrom('portMappings', 'ips', 'mac', 'bandwidth'), fc.boolean()),
      runtimeConfig,
      prevResult: result(version),
      disableCheck: fc.boolean(),
      disableGC: fc.boolean(),
      'cni.dev/valid-attachments': attachments,
    },
    { requiredKeys: ['cniVersion', 'name', 'type', 'ipam'] },
  ),
) as fc.Arbitrary<JsonObject>;

/** One mutation of a config: a field replaced, removed, or an unknown one added. */
export const mutatedConf = fc
  .tuple(netConf, fc.nat(), hostileValue, mutationOp, fc.string({ maxLength: 10 }))
  .map(([conf, pick, value, op, key]) => {
    return { orig: conf, ...mutate(conf, pick, value, op, key) };
  });

/** stdin as bytes: mostly JSON text, sometimes cut short, sometimes not UTF-8 at all. */
export const stdinOf = (conf: Json): fc.Arbitrary<Buffer> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(Buffer.from(JSON.stringify(conf))) },
    { weight: 1, arbitrary: fc.nat().map((n) => { const t = Buffer.from(JSON.stringify(conf)); return t.subarray(0, n % (t.length + 1)); }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  );
