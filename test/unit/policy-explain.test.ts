import { describe, expect, it } from 'vitest';
import { describeEntry, describeIdentity, describePeer, describePort, describeRule, describeSelector } from '../../src/policy/explain.js';
import { IDENTITY_ANY, IDENTITY_CLUSTER, IDENTITY_HOST, IDENTITY_NS_FLAG, IDENTITY_REMOTE_NODE, IDENTITY_WORLD, type DesiredState } from '../../src/policy/types.js';
import { policy } from '../helpers/policy-builders.js';

describe('policy explain', () => {
  const p = policy('x', 'p', {
    ingress: [
      {
        from: [
          { podSelector: { matchLabels: { app: 'web' } } },
          { podSelector: {}, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } },
          { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }, { key: 'legacy', operator: 'DoesNotExist' }] } },
          { namespaceSelector: {} },
          { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.0.0/16'] } },
        ],
        ports: [{ port: 80 }, { port: 8080, endPort: 8090 }, { port: 'dns', protocol: 'UDP' }, { protocol: 'SCTP' }],
      },
      {},
    ],
  });

  it('peers and ports read as an operator would say them', () => {
    expect(describeRule(p.ingress[0]!, 'x')).toEqual({
      peers: [
        'pods app=web in namespace x',
        'all pods in namespace y',
        'all pods in namespaces team in (a,b), !legacy',
        'all pods in all namespaces',
        '10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16',
      ],
      ports: ['TCP/80', 'TCP/8080-8090', 'UDP/dns (named)', 'SCTP (any port)'],
    });
    expect(describeRule(p.ingress[1]!, 'x')).toEqual({ peers: ['any peer'], ports: ['any port'] });
    expect(describePeer(null, 'x')).toBe('any peer');
    expect(describePort(null)).toBe('any port');
    expect(describeSelector({ matchLabels: {}, matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['b'] }, { key: 'c', operator: 'Exists', values: [] }] })).toBe('a!=b, c');
  });

  it('identities and entries', () => {
    const state: DesiredState = {
      ipcache: new Map(),
      cidrs: new Map([['10.0.0.0/8', (1 << 24) | 7]]),
      endpoints: new Map(),
      rules: new Map(),
      identities: new Map([[300, { namespace: 'x', namespaceLabels: {}, labels: { tier: 'f', app: 'web' } }]]),
      namespaceIds: new Map([['y', IDENTITY_NS_FLAG | 9]]),
    };
    expect(describeIdentity(IDENTITY_CLUSTER)).toBe('all pods');
    expect(describeIdentity(IDENTITY_REMOTE_NODE)).toBe('another node');
    expect(describeIdentity(IDENTITY_NS_FLAG | 9, state)).toBe('all pods in namespace y');
    expect(describeIdentity(IDENTITY_NS_FLAG | 10, state)).toBe(`namespace identity ${IDENTITY_NS_FLAG | 10}`);
    expect(describeIdentity(IDENTITY_ANY)).toBe('any');
    expect(describeIdentity(IDENTITY_HOST)).toBe('host');
    expect(describeIdentity(IDENTITY_WORLD)).toBe('world');
    expect(describeIdentity((1 << 24) | 7, state)).toBe('cidr 10.0.0.0/8');
    expect(describeIdentity(300, state)).toBe('pods app=web, tier=f in namespace x');
    expect(describeIdentity(301, state)).toBe('identity 301');
    expect(describeEntry({ identity: 300, egress: false, protocol: 6, port: 8080, portPrefixLen: 13, ruleId: 3 }, state)).toBe(
      'ingress from pods app=web, tier=f in namespace x on TCP/8080-8087 (rule 3)',
    );
    expect(describeEntry({ identity: 0, egress: true, protocol: 0, port: 0, portPrefixLen: 0, ruleId: 1 })).toBe('egress to any on any (rule 1)');
  });
});
