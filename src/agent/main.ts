// strait-agent: the node daemon. The source feeds the core snapshots of the cluster,
// the local API lets the CNI plugin and straitctl in, and a signal closes all three.
// Exiting never touches the datapath: programs stay attached and maps pinned, and
// the next agent adopts them.
import './threadpool.js';
import type { ApiServer } from './api.js';
import type { CniService } from './cni-service.js';
import type { AgentCore } from './core.js';
import { UsageError } from '../errors.js';
import { AGENT_USAGE, parseAgentFlags, type AgentFlags } from './options.js';
import type { ClusterSource } from './sources/source.js';
import type { ClusterState } from '../policy/types.js';
import type { Logger } from '../util/log.js';
import type { DeployRun } from './deploy-run.js';
import type { FlowService } from '../flows/service.js';

/** How long a stopping agent lets CNI calls in flight finish. */
const CNI_DRAIN_MS = 5000;

async function main(): Promise<number> {
  let flags: AgentFlags | null;
  try {
    flags = parseAgentFlags(process.argv.slice(2), process.env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`strait-agent: ${e.message}\n\n${AGENT_USAGE}`);
    return 2;
  }
  if (flags === null) {
    process.stdout.write(AGENT_USAGE);
    return 0;
  }
  const { createLogger } = await import('../util/log.js');
  const log = await createLogger({ level: flags.logLevel, file: null, bindings: { node: flags.nodeName } });
  if (flags.deploy.uninstall) return (await import('./deploy-run.js')).runUninstall(flags, log);
  return run(flags, log);
}

async function run(flags: AgentFlags, log: Logger): Promise<number> {
  let core: AgentCore | null = null;
  let source: ClusterSource | null = null;
  let api: ApiServer | null = null;
  let cni: CniService | null = null;
  let delQueue: { close(): void } | null = null;
  let deploy: DeployRun | null = null;
  let flows: FlowService | null = null;
  /** the core as the API answers for it (the source's sync merged in) */
  let answering: AgentCore | null = null;
  let stopping = false;
  let signalled!: () => void;
  const stopRequested = new Promise<void>((resolve) => (signalled = resolve));

  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      // Nothing is lost by not closing: the datapath lives on without us.
      log.warn({ signal: sig }, `${sig} again; exiting without waiting`);
      process.exit(0);
    }
    stopping = true;
    log.info({ signal: sig }, `${sig}: shutting down (the datapath stays as it is)`);
    signalled();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const shutdown = async (code: number): Promise<number> => {
    // CNI calls first (those in flight end, bounded), then the API, so no new endpoint
    // arrives at a core that is closing. The install retry and the probes stop before.
    await deploy?.close();
    delQueue?.close();
    await cni?.close(CNI_DRAIN_MS);
    flows?.close(); // before the API: live monitors end with it
    await api?.close().catch((e: unknown) => log.warn({ err: String(e) }, 'closing the api failed'));
    source?.close();
    await core?.close().catch((e: unknown) => log.warn({ err: String(e) }, 'closing the core failed'));
    log.info({ code }, 'strait-agent stopped');
    return code;
  };

  try {
    log.info(
      { source: flags.source, stateDir: flags.stateDir, bpfDir: flags.bpfDir, socket: flags.socketPath, routing: flags.routing, uplink: flags.uplink },
      'strait-agent starting',
    );
    // Metrics read the core, the source and the pinned maps at each scrape: whatever
    // of them exists yet (a scrape during start sees what there is).
    const { createAgentMetrics, SyncLag } = await import('./metrics.js');
    const { pinnedMapReaders } = await import('./metrics-node.js');
    const lag = new SyncLag();
    const metrics = createAgentMetrics({
      status: () => answering?.status() ?? null,
      source: () => (source === null ? null : { current: source.isCurrent(), status: source.status?.() ?? null }),
      ...pinnedMapReaders(flags.bpfDir),
      // Behind by whichever is longer: the source not current (a watch down), or a delivered snapshot not applied.
      syncLagSeconds: () => Math.max(lag.seconds(core?.status().appliedGeneration ?? 0, performance.now()), source?.staleSeconds?.() ?? 0),
      flows: () => flows?.stats() ?? null,
    });
    const metricsRoute = async () => ({ status: 200, contentType: metrics.registry.contentType, body: await metrics.registry.metrics() });
    // Probes answer from here on; the CNI binary is in place before any conflist names it.
    const { startDeploy } = await import('./deploy-run.js');
    deploy = await startDeploy(flags, log, metricsRoute);
    // The source first: a wrong --source fails before the datapath is touched, and
    // the core starts with the cluster in hand rather than an empty one.
    let first: { state: ClusterState; generation: number } | null = null;
    let target: AgentCore | null = null;
    const { openSource } = await import('./sources/source.js');
    source = await openSource(flags.source, log, (state, generation) => {
      lag.deliveredAt(generation, performance.now());
      if (target === null) first = { state, generation };
      else target.setCluster(state, generation);
    });
    await source.start();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a signal handler sets it while we await
    if (stopping) return await shutdown(0);

    const { createAgentCore } = await import('./reconciler.js');
    const network = { routing: flags.routing, uplink: flags.uplink, vxlanPort: flags.vxlanPort, masquerade: flags.masquerade };
    core = await createAgentCore({
      nodeName: flags.nodeName,
      stateDir: flags.stateDir,
      bpfDir: flags.bpfDir,
      log,
      capacity: flags.maxEntries,
      mapSizes: flags.mapSizes,
      network,
      timing: metrics.timing,
    });
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a signal handler sets it while we await
    if (stopping) return await shutdown(0);
    const snapshot = first as { state: ClusterState; generation: number } | null;
    if (snapshot !== null) core.setCluster(snapshot.state, snapshot.generation);
    target = core;
    flows = await startFlows(flags, core, log);

    const { startApiServer } = await import('./api.js');
    // "Synced" means what the source holds NOW is in the datapath: a file written a
    // moment ago that the watch has not delivered yet makes the answer no.
    const src = source;
    const inner = core;
    answering = {
      ...inner,
      status: () => {
        const s = inner.status();
        const sync = src.status?.();
        return { ...s, synced: s.synced && src.isCurrent(), ...(sync === undefined ? {} : { source: sync }) };
      },
    };
    // DELs queued while no agent listened run before anything new can arrive.
    const { createCniService } = await import('./cni-service.js');
    const service = createCniService({ core: inner, stateDir: flags.stateDir, bpfDir: flags.bpfDir, log: log.child({ component: 'cni' }), onCall: metrics.observeCni });
    cni = service;
    const { startDelQueue } = await import('./del-queue.js');
    delQueue = await startDelQueue(flags.stateDir, (call) => service.handle(call), log.child({ component: 'del-queue' }));
    const answered = answering;
    api = await startApiServer({ socketPath: flags.socketPath, core: answered, cni: service, flows, log: log.child({ component: 'api' }) });
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a signal handler sets it while we await
    if (stopping) return await shutdown(0);
    // The conflist is written once what the source holds is in the datapath.
    deploy.apiListening(() => answered.status().synced);
    log.info({ socket: flags.socketPath }, 'strait-agent ready');
  } catch (e) {
    log.fatal({ err: e instanceof Error ? e.message : String(e) }, `strait-agent cannot start: ${e instanceof Error ? e.message : String(e)}`);
    await shutdown(1);
    return 1;
  }

  await stopRequested;
  return shutdown(0);
}

/**
 * The datapath's maps exist once the core runs: strait_event_config_v1 is written
 * from the flags, and the reader starts (off too: it reports what the datapath
 * counted, and a record written before the switch is still read).
 */
async function startFlows(flags: AgentFlags, core: AgentCore, log: Logger): Promise<FlowService> {
  const { writeEventConfig } = await import('../flows/config.js');
  const { startFlowService } = await import('../flows/service.js');
  const { idleDrainMs, pinnedEventSource } = await import('../flows/reader.js');
  const { numPossibleCpus } = await import('../datapath/bpf.js');
  const { monotonicToWallOffsetNs } = await import('../flows/time.js');
  writeEventConfig(flags.bpfDir, flags.flows);
  log.info({ flowEvents: flags.flows.enabled ? 'on' : 'off', rate: flags.flows.rate, buffer: flags.flows.buffer }, 'flow events configured');
  return startFlowService({
    nodeName: flags.nodeName,
    capacity: flags.flows.buffer,
    source: pinnedEventSource(flags.bpfDir),
    names: () => core.flowNames?.() ?? null,
    clockOffsetNs: monotonicToWallOffsetNs(),
    idleDrainMs: idleDrainMs(flags.flows.rate, numPossibleCpus()),
    log: log.child({ component: 'flows' }),
  });
}

// Exit explicitly: a core or a library may hold a timer that would keep us alive.
process.exit(await main());
