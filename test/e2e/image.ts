// The registry-free test images (scripts/build-test-image.sh): one archive with a
// busybox image and a sandbox image whose entrypoint never exits, plus the rootfs.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-test-image.sh', import.meta.url));
export const BUSYBOX = '/bin/busybox';
export const IMAGE = 'localhost/strait/busybox:1';
export const SANDBOX_IMAGE = 'localhost/strait/pause:1';

export interface TestImages {
  /** OCI image archive holding IMAGE and SANDBOX_IMAGE */
  archive: string;
  /** the unpacked rootfs both images share */
  rootfs: string;
}

export const haveBusybox = (): boolean => existsSync(BUSYBOX);

export function buildTestImages(outDir: string): TestImages {
  execFileSync('bash', [BUILD_SCRIPT, outDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { archive: join(outDir, 'images.tar'), rootfs: join(outDir, 'rootfs') };
}
