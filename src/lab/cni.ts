// Each node's conflist and the CNI calls a runtime would make with it: bin/strait
// run inside the node's netns, CNI_* in the environment, the plugin's config (the
// conflist's name and version with its one plugin) on stdin.
import { readFileSync, writeFileSync } from 'node:fs';
import { StraitError } from '../errors.js';
import { BIN, run } from './run.js';
import type { LabNode, LabPod } from './state.js';
import { LAB_NAMESPACE, NETWORK, podCidrs, podMtu, type Routing } from './topology.js';

interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export function writeConflist(node: LabNode, routing: Routing, dualStack: boolean): void {
  const cidrs = podCidrs(node.index, dualStack);
  const ranges = [[{ subnet: cidrs.v4 }], ...(cidrs.v6 === null ? [] : [[{ subnet: cidrs.v6 }]])];
  const list: Conflist = {
    cniVersion: '1.1.0',
    name: NETWORK,
    plugins: [
      {
        type: 'strait',
        mtu: podMtu(routing),
        stateDir: node.stateDir,
        bpfDir: node.bpfDir,
        agentSocket: node.socket,
        ipam: { type: 'strait', ranges },
      },
    ],
  };
  writeFileSync(node.conflist, JSON.stringify(list, null, 2));
}

/** The plugin config a runtime hands bin/strait on node `node`: its conflist's name and version with its one plugin. */
export function pluginConfig(node: LabNode): Record<string, unknown> {
  const list = JSON.parse(readFileSync(node.conflist, 'utf8')) as Conflist;
  return { cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] };
}

interface CniAnswer {
  ips?: { address: string }[];
  code?: number;
  msg?: string;
}

/** ADD or DEL of the pod's eth0; ADD answers the pod's addresses (no prefix length). */
export function cni(command: 'ADD' | 'DEL', node: LabNode, pod: LabPod): string[] {
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: `/run/netns/${pod.netns}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${LAB_NAMESPACE};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
  };
  const r = run('ip', ['netns', 'exec', node.netns, BIN('strait')], { input: JSON.stringify(pluginConfig(node)), env });
  let answer: CniAnswer = {};
  try {
    if (r.stdout.trim() !== '') answer = JSON.parse(r.stdout) as CniAnswer;
  } catch {
    // not JSON: reported below with the raw text
  }
  if (r.status !== 0) {
    const why = answer.msg === undefined ? (r.stdout + r.stderr).trim() : `code ${answer.code}: ${answer.msg}`;
    throw new StraitError('E_COMMAND', `CNI ${command} of ${pod.name} on ${node.name} failed: ${why}`);
  }
  return (answer.ips ?? []).map((i) => i.address.split('/')[0] ?? '');
}
