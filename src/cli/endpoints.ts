// straitctl endpoints: what the endpoint map holds, joined with the records ADD left
// (pod names from CNI_ARGS, container, veth).
import * as bpf from '../datapath/bpf.js';
import { listEndpoints } from '../datapath/endpoints.js';
import { openPinnedMap } from '../datapath/loader.js';
import { EP_F_READY } from '../datapath/maps/endpoints.js';
import { listEndpointRecords } from '../state/endpoint-record.js';
import { parseCommon, printTable } from './options.js';

export function endpoints(argv: string[]): number {
  const opts = parseCommon(argv);
  const fd = openPinnedMap(opts.bpfDir, 'endpoints');
  if (fd === null) {
    console.error(`no endpoint map pinned in ${opts.bpfDir} (no pod added on this node yet?)`);
    return 1;
  }
  let entries;
  try {
    entries = listEndpoints(fd);
  } finally {
    bpf.closeFd(fd);
  }
  const records = listEndpointRecords(opts.stateDir);
  const rows = entries
    .map((e) => {
      const r = records.find((x) => x.ifindex === e.ifindex && x.addresses.includes(e.ip));
      const pod = r?.k8s.namespace !== undefined && r.k8s.name !== undefined ? `${r.k8s.namespace}/${r.k8s.name}` : null;
      return {
        ip: e.ip,
        family: e.family,
        ifindex: e.ifindex,
        hostVeth: r?.hostVeth ?? null,
        podMac: e.podMac,
        ready: (e.flags & EP_F_READY) !== 0,
        identity: e.identity,
        pod,
        network: r?.network ?? null,
        containerId: r?.containerId ?? null,
      };
    })
    .sort((a, b) => a.ifindex - b.ifindex || a.family - b.family);
  if (opts.output === 'json') {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  printTable([
    ['IP', 'IFINDEX', 'HOST VETH', 'POD MAC', 'READY', 'POD', 'NETWORK', 'CONTAINER'],
    ...rows.map((r) => [
      r.ip,
      String(r.ifindex),
      r.hostVeth ?? '-',
      r.podMac,
      r.ready ? 'yes' : 'no',
      r.pod ?? '-',
      r.network ?? '-',
      r.containerId === null ? '-' : r.containerId.slice(0, 20),
    ]),
  ]);
  return 0;
}
