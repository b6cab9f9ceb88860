// straitctl reload: make the pinned datapath match the BPF objects on disk now. With
// a newer build that means new programs, pinned beside the maps and swapped in on
// every endpoint's veth atomically (BPF_TC_F_REPLACE); with the same build, nothing.
import { openDatapath } from '../datapath/loader.js';
import { parseCommon } from './options.js';

export function reload(argv: string[]): number {
  const opts = parseCommon(argv, { objects: { type: 'string' } });
  const objectDir = opts.values.objects;
  const dp = openDatapath({
    bpfDir: opts.bpfDir,
    stateDir: opts.stateDir,
    ...(typeof objectDir === 'string' ? { objectDir } : {}),
  });
  try {
    if (opts.output === 'json') console.log(JSON.stringify({ buildId: dp.buildId }));
    else console.log(`datapath build ${dp.buildId} is loaded`);
  } finally {
    dp.close();
  }
  return 0;
}
