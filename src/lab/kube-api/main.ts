// The emulated API server as a process: `node dist/lab/kube-api/main.js --listen
// HOST:PORT [--socket PATH] [--bookmark-ms N] [--kubeconfig PATH] [--tls-cert PEM
// --tls-key PEM] [--token-file PATH]`, so agents inside
// node network namespaces can reach it where it listens (the lab's outside
// namespace), and a test outside them through the unix socket. Prints its URL on
// stdout once listening; SIGTERM or SIGINT stops it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { writeKubeconfig } from './kubeconfig.js';
import { startKubeApi } from './server.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string' },
    socket: { type: 'string' },
    'bookmark-ms': { type: 'string' },
    kubeconfig: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'token-file': { type: 'string' },
  },
});
const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):([0-9]{1,5})$/.exec(values.listen ?? '127.0.0.1:0');
if (m === null) {
  process.stderr.write(`kube-api: --listen takes HOST:PORT, not "${values.listen}"\n`);
  process.exit(2);
}
const bookmarkMs = values['bookmark-ms'] === undefined ? undefined : Number(values['bookmark-ms']);
if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
  process.stderr.write('kube-api: --tls-cert and --tls-key go together\n');
  process.exit(2);
}
const tls = values['tls-cert'] === undefined ? undefined : { cert: readFileSync(values['tls-cert'], 'utf8'), key: readFileSync(values['tls-key']!, 'utf8') };
const token = values['token-file'] === undefined ? undefined : readFileSync(values['token-file'], 'utf8').trim();
const api = await startKubeApi({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]), bookmarkMs, tls, token });
if (values.socket !== undefined) await api.listenUnix(values.socket);
if (values.kubeconfig !== undefined) writeKubeconfig(values.kubeconfig, api.serverUrl);
process.stdout.write(`${api.serverUrl}\n`);
const stop = (): void => void api.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
