// straitctl monitor: the agent's flow records live (GET /v1/flows?follow=1), filtered
// by the agent, until Ctrl-C (exit 0) or the agent ends the stream (exit 1: it went
// away). -o json: each record exactly as the agent sent it, one a line, written as
// it arrives; losses go to stderr so stdout stays records only.
import { agentStream, type StreamEnd } from '../agent/stream-client.js';
import { filterToQuery } from '../flows/filter.js';
import { UsageError } from '../errors.js';
import { parseAgentCli, runAgentCommand } from './agent-common.js';
import { FILTER_FLAGS, filterFromFlags } from './flow-flags.js';
import { FLOW_HEADER, fixedRow, flowCells, lostLine, streamLine } from './flow-format.js';

export function monitor(argv: string[]): Promise<number> {
  let opened = false;
  return runAgentCommand('monitor', async () => {
    const opts = parseAgentCli(argv, FILTER_FLAGS);
    if (opts.positionals.length > 0) throw new UsageError(`unexpected argument '${opts.positionals[0]}'`);
    const query = filterToQuery(filterFromFlags(opts.values), new URLSearchParams({ follow: '1' }));
    const json = opts.output === 'json';

    // Ctrl-C, or a reader that went away (`| head`), ends it cleanly.
    const stop = new AbortController();
    const onSigint = (): void => stop.abort();
    const onStdoutError = (e: NodeJS.ErrnoException): void => {
      if (e.code === 'EPIPE') stop.abort();
    };
    process.once('SIGINT', onSigint);
    process.stdout.on('error', onStdoutError);
    let end: StreamEnd;
    try {
      end = await agentStream(
        opts.socketPath,
        `/v1/flows?${query.toString()}`,
        (value) => {
          const line = streamLine(value);
          if (line === null) return;
          if ('flow' in line) process.stdout.write(`${json ? JSON.stringify(line.flow) : fixedRow(flowCells(line.flow))}\n`);
          else process.stderr.write(`${json ? JSON.stringify(line) : lostLine(line.lost)}\n`);
        },
        {
          signal: stop.signal,
          onOpen: () => {
            opened = true;
            if (!json) process.stdout.write(`${fixedRow(FLOW_HEADER)}\n`);
          },
        },
      );
    } catch (e) {
      if (!opened) throw e;
      // Once the stream ran, its failure is the agent going away, not a bad start.
      process.stderr.write(`straitctl monitor: ${(e as Error).message}\n`);
      return 1;
    } finally {
      process.removeListener('SIGINT', onSigint);
      process.stdout.removeListener('error', onStdoutError);
    }
    if (end === 'aborted') return 0;
    process.stderr.write(`straitctl monitor: strait-agent on ${opts.socketPath} ${end === 'ended' ? 'ended the stream' : 'closed the connection'}: the agent went away\n`);
    return 1;
  });
}
