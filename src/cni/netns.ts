// Opening netlink in a pod's namespace, with the two ways that fails turned into
// precise CNI errors rather than a bare errno.
import { Netlink } from '../datapath/netlink.js';
import { errnoOf, errors } from '../errors.js';

export function openPodNetns(path: string): Netlink {
  try {
    return Netlink.open(path);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') throw errors.netns(`network namespace ${path} does not exist`, path, err);
    if (code === 'ENOTNETNS') throw errors.netns(`${path} is not a network namespace`, path, err);
    throw errors.netns(`cannot enter network namespace ${path}: ${(err as Error).message}`, path, err);
  }
}
