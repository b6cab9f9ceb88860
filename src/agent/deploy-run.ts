// How the agent's main wires the install step and the health endpoint (issue #12):
// the health server and the binary first (probes answer while the agent starts, the
// shim is in place before any conflist names it), the conflist once the API listens
// and the datapath is synced, retried until it is written. main.ts calls these three
// hooks and nothing else of the deploy code.
import type { AgentFlags } from './options.js';
import type { Logger } from '../util/log.js';
import type { HttpEndpoints, Route } from './health.js';
import type { AddressInfo } from 'node:net';

/** How often a ready-to-be agent looks again whether it is synced (and retries a failed write). */
const INSTALL_POLL_MS = 100;

export interface DeployRun {
  /** where the health endpoint listens (its port resolved), null without --health-addr */
  readonly health: AddressInfo | null;
  /** where /metrics listens, null when off (or the default address was taken) */
  readonly metrics: AddressInfo | null;
  /** the API listens; `synced` says whether the datapath holds what the source holds now */
  apiListening(synced: () => boolean): void;
  close(): Promise<void>;
}

/** `metrics`: the /metrics route, served on --metrics-addr; absent: no metrics server. */
export async function startDeploy(flags: AgentFlags, log: Logger, metrics?: Route): Promise<DeployRun> {
  const { install, health } = flags.deploy;
  const metricsAddr = metrics === undefined ? null : flags.deploy.metrics;
  const paths = { stateDir: flags.stateDir, bpfDir: flags.bpfDir, socketPath: flags.socketPath };
  let template: string | null = null;
  const inst = install === null ? null : await import('./install.js');
  if (install !== null && inst !== null) {
    template = inst.loadTemplate(install);
    // A template that cannot be rendered stops the agent now, not once it is ready.
    if (install.confDir !== null) inst.renderConflist(template, paths, install.template ?? undefined);
    if (install.binDir !== null) {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(flags.stateDir, { recursive: true, mode: 0o755 });
      const written = inst.installBinary(install.binDir, flags.stateDir);
      log.info({ binDir: install.binDir, written }, written ? 'installed the CNI binary' : 'the CNI binary is up to date');
    }
  }

  const confDir = install?.confDir ?? null;
  let listening = false;
  let closed = false;
  let synced: () => boolean = () => false;
  let installed = false;
  let timer: NodeJS.Timeout | null = null;
  let endpoints: HttpEndpoints | null = null;
  let metricsEndpoints: HttpEndpoints | null = null;
  const { healthRoutes, startHttpEndpoints } = await import('./health.js');
  const probes = healthRoutes({ apiListening: () => listening, synced: () => listening && synced(), installed: () => (confDir === null ? null : installed) });
  const withMetrics = metrics === undefined ? probes : { ...probes, '/metrics': metrics };
  const shared = health !== null && metricsAddr !== null && health.host === metricsAddr.host && health.port === metricsAddr.port;
  if (health !== null) {
    endpoints = await startHttpEndpoints(health, shared ? withMetrics : probes);
    log.info({ address: endpoints.address }, `health endpoint on ${health.host}:${endpoints.address.port}`);
  }
  if (metricsAddr !== null && !shared) {
    try {
      metricsEndpoints = await startHttpEndpoints(metricsAddr, withMetrics);
      log.info({ address: metricsEndpoints.address }, `metrics on http://${metricsAddr.host}:${metricsEndpoints.address.port}/metrics`);
    } catch (e) {
      // The default address may be another agent's (several emulated nodes on one host): only an asked-for one is fatal.
      if (metricsAddr.explicit) {
        await endpoints?.close();
        throw e;
      }
      log.warn({ err: (e as Error).message }, `no metrics: ${metricsAddr.host}:${metricsAddr.port} is not free (--metrics-addr names another, off none)`);
    }
  }

  const tryInstall = (): void => {
    timer = null;
    if (closed || installed || install === null || confDir === null || inst === null) return;
    if (synced()) {
      try {
        const r = inst.installConflist({ ...install, confDir }, template, paths);
        installed = true;
        log.info(r, r.written ? `wrote ${r.path}` : `${r.path} is up to date`);
        return;
      } catch (e) {
        log.error({ err: e instanceof Error ? e.message : String(e) }, 'writing the CNI conflist failed; retrying');
      }
    }
    timer = setTimeout(tryInstall, INSTALL_POLL_MS);
  };

  return {
    health: endpoints?.address ?? null,
    metrics: shared ? (endpoints?.address ?? null) : (metricsEndpoints?.address ?? null),
    apiListening(s) {
      listening = true;
      synced = s;
      tryInstall();
    },
    async close() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      closed = true;
      await endpoints?.close();
      await metricsEndpoints?.close();
    },
  };
}

/** strait-agent --uninstall: undo the state dir's record, touch nothing else. */
export async function runUninstall(flags: AgentFlags, log: Logger): Promise<number> {
  const { uninstall } = await import('./install.js');
  const out = uninstall(flags.stateDir);
  for (const p of out.left) log.warn({ path: p }, `${p} changed since strait wrote it: left as it is`);
  log.info(out, `uninstalled: removed ${out.removed.length} file(s), restored ${out.restored.length}`);
  return 0;
}
