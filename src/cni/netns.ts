// Opening netlink in a pod's namespace, with the two ways that fails turned into
// precise CNI errors rather than a bare errno.
import { Netlink } from '../datapath/netlink.js';
import { errnoOf, errors } from '../errors.js';

export function openPodNetns(path: string): Netlink {
  try {
    return Netlink.open(path);
  } catch (err) {
    throw netnsError(path, err);
  }
}

/** openPodNetns with the namespace entered off this thread: the agent serves other calls meanwhile. */
export async function openPodNetnsAsync(path: string): Promise<Netlink> {
  try {
    return await Netlink.openAsync(path);
  } catch (err) {
    throw netnsError(path, err);
  }
}

function netnsError(path: string, err: unknown): Error {
  const code = errnoOf(err);
  if (code === 'ENOENT') return errors.netns(`network namespace ${path} does not exist`, path, err);
  if (code === 'ENOTNETNS') return errors.netns(`${path} is not a network namespace`, path, err);
  return errors.netns(`cannot enter network namespace ${path}: ${(err as Error).message}`, path, err);
}
