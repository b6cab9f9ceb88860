// An agent in the test's own process: the real API server and CNI service over a
// FakeCore whose readiness and removals the test controls. bin/strait forwards to it
// as to strait-agent, so a test can make the agent slow, refuse, or watch what it is
// told, and still run every command step for real (root: the test process does the
// netlink and map work the agent would).
import { join } from 'node:path';
import { pino } from 'pino';
import { startApiServer } from '../../src/agent/api.js';
import { createCniService } from '../../src/agent/cni-service.js';
import type { FakeCore } from './fake-core.js';
import { tempDir } from './sys.js';

export interface CoreAgent {
  socket: string;
  close(): Promise<void>;
}

export async function coreAgent(core: FakeCore, dirs: { stateDir: string; bpfDir: string }): Promise<CoreAgent> {
  const log = pino({ level: 'silent' });
  const socket = join(tempDir('core-agent'), 'agent.sock');
  const cni = createCniService({ core, ...dirs, log });
  const server = await startApiServer({ socketPath: socket, core, cni, log });
  return {
    socket,
    async close() {
      await cni.close(1000);
      await server.close();
    },
  };
}
