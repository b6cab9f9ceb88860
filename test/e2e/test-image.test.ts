// The registry-free test image: a valid OCI image layout, and reproducible — the
// same busybox gives a byte-identical archive, so the e2e tests run against the
// same image on every machine and build.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cleanupAll, tempDir } from '../helpers/sys.js';
import { buildTestImages, haveBusybox, IMAGE, SANDBOX_IMAGE, type TestImages } from './image.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

if (!haveBusybox()) console.warn('\n*** SKIPPING test image tests: /bin/busybox missing (run scripts/setup-runtimes.sh) ***\n');

/** The archive's members as name -> content (GNU tar lists and extracts them). */
function untar(archive: string): Map<string, Buffer> {
  const dir = tempDir('img-x');
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  const names = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).split('\n').filter((n) => n && !n.endsWith('/'));
  return new Map(names.map((n) => [n, readFileSync(join(dir, n))]));
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

describe.skipIf(!haveBusybox())('test image (scripts/build-test-image.sh)', () => {
  let img: TestImages;
  let again: TestImages;
  beforeAll(() => {
    img = buildTestImages(tempDir('img-a'));
    again = buildTestImages(tempDir('img-b'));
  });
  afterAll(() => cleanupAll());

  it('is byte-identical when built twice', () => {
    expect(sha256(readFileSync(again.archive))).toBe(sha256(readFileSync(img.archive)));
  });

  it('is an OCI layout whose index names both images and whose digests hold', () => {
    const files = untar(img.archive);
    expect(JSON.parse(files.get('oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const blob = (d: Descriptor): Buffer => {
      const b = files.get(`blobs/sha256/${d.digest.replace(/^sha256:/, '')}`);
      if (b === undefined) throw new Error(`blob ${d.digest} missing`);
      expect(b.length).toBe(d.size);
      expect(`sha256:${sha256(b)}`).toBe(d.digest);
      return b;
    };
    const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: Descriptor[] };
    const byName = new Map(index.manifests.map((m) => [m.annotations?.['io.containerd.image.name'], m]));
    expect([...byName.keys()].sort()).toEqual([IMAGE, SANDBOX_IMAGE].sort());

    for (const [name, desc] of byName) {
      expect(desc.annotations!['org.opencontainers.image.ref.name']).toBe(name);
      const manifest = JSON.parse(blob(desc).toString()) as { config: Descriptor; layers: Descriptor[] };
      const config = JSON.parse(blob(manifest.config).toString()) as {
        os: string;
        architecture: string;
        config: { Entrypoint?: string[]; Cmd?: string[] };
        rootfs: { diff_ids: string[] };
      };
      expect(config.os).toBe('linux');
      expect(desc.platform).toEqual({ architecture: config.architecture, os: 'linux' });
      expect(manifest.layers).toHaveLength(1);
      const layer = gunzipSync(blob(manifest.layers[0]!));
      expect(config.rootfs.diff_ids).toEqual([`sha256:${sha256(layer)}`]);
      // The sandbox image must keep running on its own: CRI's sandbox is its process.
      if (name === SANDBOX_IMAGE) expect(config.config.Entrypoint).toEqual(['/bin/sleep', 'infinity']);
      else expect(config.config.Cmd).toEqual(['/bin/sh']);
    }
  });

  it('has busybox with its applets, owned by root with fixed times', () => {
    expect(statSync(join(img.rootfs, 'bin/busybox')).mode & 0o777).toBe(0o755);
    for (const applet of ['bin/sh', 'bin/ping', 'bin/sleep', 'usr/bin/nc']) {
      expect(readlinkSync(join(img.rootfs, applet))).toBe('/bin/busybox');
    }
    // Every member of the layer: uid/gid 0 and mtime 0, as `tar -tv` shows them.
    const files = untar(img.archive);
    const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: Descriptor[] };
    const manifest = JSON.parse(files.get(`blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)!.toString()) as { layers: Descriptor[] };
    const layerPath = join(tempDir('img-l'), 'layer.tar.gz');
    writeFileSync(layerPath, files.get(`blobs/sha256/${manifest.layers[0]!.digest.slice(7)}`)!);
    const lines = execFileSync('tar', ['-tvzf', layerPath, '--numeric-owner'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(200);
    for (const l of lines) expect(l).toMatch(/^\S+ 0\/0 +\d+ 1970-01-01 00:00 /);
  });
});
