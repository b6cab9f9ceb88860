// What a flow event is once the agent has named it: the stable JSON interface of
// `straitctl monitor -o json` and `straitctl flows -o json` (one FlowRecord per
// line), of GET /v1/flows, and of the agent's flow buffer. docs/observability.md is
// the contract; fields may be added, never renamed or removed.

/** allowed: a new connection or a state change that passed; denied: policy said no
 * (DROP_POLICY_*, DROP_CT_MISS, DROP_CT_REVOKED); dropped: any other drop. */
export type FlowVerdict = 'allowed' | 'denied' | 'dropped';
export const FLOW_VERDICTS: readonly FlowVerdict[] = ['allowed', 'denied', 'dropped'];

/** new: a connection opened; state: it was answered, a FIN, or it closed; drop: a packet dropped. */
export type FlowEventKind = 'new' | 'state' | 'drop';

export interface FlowPeer {
  /** null when the packet was not IP (ARP, an unknown L3, too short to parse) */
  ip: string | null;
  /** null for protocols without ports (ICMP: the echo identifier is not a port) */
  port: number | null;
  /** "namespace/name" when the address is a pod's the agent knows (any node) */
  pod?: string;
  /** the datapath's identity of the address: a pod identity, else its CIDR identity */
  identity: number;
}

export interface FlowRecord {
  /** RFC 3339, UTC, nanoseconds: "2026-12-01T19:30:00.123456789Z" */
  time: string;
  verdict: FlowVerdict;
  /**
   * drop: the drop reason in kebab case (drop.ts names: "policy-ingress",
   * "spoof-ip", "lb-no-backend"); new: "policy" (a rule allowed it, `policy` names
   * it), "not-isolated" (no policy applies), "host" (to or from this node);
   * state: "answered", "fin" or "closed".
   */
  reason: string;
  event: FlowEventKind;
  /** "tcp", "udp", "sctp", "icmp", "icmpv6"; another protocol as its number ("47"); null when not IP */
  protocol: string | null;
  src: FlowPeer;
  dst: FlowPeer;
  /** the node whose agent saw it */
  node: string;
  /** from the endpoint's side: egress (it sent the packet), ingress (it receives it) */
  direction: 'ingress' | 'egress';
  /** the program that saw it: from-pod, to-pod, from-uplink, from-tunnel, to-tunnel */
  point: string;
  /** new, allowed by a rule: the NetworkPolicy "namespace/name" of each rule that allowed it */
  policies?: string[];
  /** TCP flags of the packet, e.g. ["SYN"], ["SYN","ACK"], ["FIN","ACK"]; absent without TCP header */
  tcpFlags?: string[];
  /** the connection's packets were translated from a Service to this backend */
  service?: boolean;
  /** the packet went against its connection's direction (a reply) */
  reply?: boolean;
  /** packet length in bytes */
  bytes: number;
}

/**
 * Where records were lost, and why; reported, never silent (docs/observability.md):
 * the datapath's ring was full, or over its rate; the agent could not decode or
 * handle a record (its log says why); a live reader fell behind.
 */
export type LostCause = 'ring-full' | 'rate-limited' | 'agent-error' | 'slow-reader';

export interface LostNotice {
  time: string;
  cause: LostCause;
  /** records lost since the previous notice of this cause */
  count: number;
}

/** One line of GET /v1/flows?follow=1 (application/x-ndjson). */
export type FlowStreamLine = { flow: FlowRecord } | { lost: LostNotice };

/**
 * What a reader wants to see; every field set must match (and within one field any
 * of its values). pod and namespace match either side.
 */
export interface FlowFilter {
  /** "namespace/name", either side */
  pods?: string[];
  /** either side's pod namespace */
  namespaces?: string[];
  verdicts?: FlowVerdict[];
  /** as FlowRecord.protocol names them */
  protocols?: string[];
  /** either side's port */
  ports?: number[];
}

/** GET /v1/flows?last=N (no follow): the newest N records of the agent's buffer, oldest first. */
export interface FlowsReply {
  flows: FlowRecord[];
  /** every record lost since the agent started, by cause (the datapath's counters and the agent's) */
  lost: Record<LostCause, number>;
  /** the buffer's capacity (--flow-buffer) */
  capacity: number;
}
