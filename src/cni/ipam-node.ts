// Kubernetes IPAM mode's ranges (src/ipam/config.ts): this node's spec.podCIDRs, as
// the agent's cluster state holds them. The agent alone knows the Node, so without
// one such a config is incomplete (7); an agent that has no Node, or one without pod
// CIDRs, is a state that passes (11): the node controller assigns them shortly
// after the node registers, and the runtime retries ADD.
import { errors, StraitError } from '../errors.js';
import type { NodeRanges } from '../ipam/config.js';
import type { CommandContext } from './context.js';

export function noAgentForNodeRanges(network: string): StraitError {
  return errors.config(
    `network ${network}: ipam has no ranges, and without a strait-agent there is no Node whose spec.podCIDRs could stand in`,
    'set ipam.ranges (or ipam.subnet), or run strait-agent on this node (its socket in agentSocket or STRAIT_AGENT_SOCKET)',
  );
}

export async function nodeRanges(ctx: CommandContext): Promise<NodeRanges> {
  const agent = ctx.agent;
  if (agent === null) throw noAgentForNodeRanges(ctx.conf.name);
  const { node, podCIDRs } = await agent.nodePodCidrs();
  if (podCIDRs === null) {
    throw new StraitError('E_NODE_POD_CIDRS', `Node ${node} is not in the cluster state of strait-agent (${agent.where}): network ${ctx.conf.name} allocates from its spec.podCIDRs`, {
      details: `try again once the agent's source holds Node ${node} (is --node this node's name?)`,
    });
  }
  if (podCIDRs.length === 0) {
    throw new StraitError('E_NODE_POD_CIDRS', `Node ${node} has no spec.podCIDRs yet: network ${ctx.conf.name} allocates from them`, {
      details: 'try again: the node controller (kube-controller-manager --allocate-node-cidrs) has not assigned this node a pod CIDR yet',
    });
  }
  return { node, podCIDRs };
}
