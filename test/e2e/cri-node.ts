// A kubelet's view of one node for the CRI tests: a private containerd whose CRI
// plugin runs our conflist, the test images imported, and a CRI client once the
// plugin reports its network ready. stop() is the teardown every CRI test needs.
import { join } from 'node:path';
import { startContainerd, type Containerd } from './containerd.js';
import { CriClient } from './cri-client.js';
import { IMAGE, SANDBOX_IMAGE } from './image.js';
import { waitFor } from './wait.js';

export interface CriNode {
  ctd: Containerd;
  cri: CriClient;
  /** pod sandboxes a test started; stop() removes whatever is still here */
  sandboxes: Set<string>;
  stop(): Promise<void>;
}

export async function startCriNode(dir: string, opts: { cniBinDir: string; cniConfDir: string; imageArchive: string }): Promise<CriNode> {
  const ctd = await startContainerd(join(dir, 'containerd'), {
    sandboxImage: SANDBOX_IMAGE,
    cniBinDir: opts.cniBinDir,
    cniConfDir: opts.cniConfDir,
  });
  ctd.ctr('k8s.io', ['images', 'import', opts.imageArchive]);
  const cri = new CriClient(ctd.socket);
  await waitFor('the CRI plugin to load our conflist (NetworkReady)', async () => (await cri.conditions()).NetworkReady?.status === true);
  await waitFor('the CRI plugin to see the imported images', async () => (await cri.imagePresent(IMAGE)) && (await cri.imagePresent(SANDBOX_IMAGE)));
  const sandboxes = new Set<string>();
  return {
    ctd,
    cri,
    sandboxes,
    async stop() {
      // Whatever a failed test left: the runtime DELs it (that is the cleanup path too).
      for (const id of sandboxes) {
        await cri.stopPodSandbox(id).catch(() => {});
        await cri.removePodSandbox(id).catch(() => {});
      }
      cri.close();
      await ctd.stop();
    },
  };
}
