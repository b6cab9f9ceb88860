// Puts one hand-made Ethernet frame on a namespace's interface through an
// AF_PACKET socket (python3: Node has no raw sockets), as a hostile pod with
// CAP_NET_RAW could. The frame goes out exactly as given, checksums and all.
import { type Netns } from './sys.js';

const SEND = [
  'import socket, sys',
  's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
  's.bind((sys.argv[1], 0))',
  's.send(bytes.fromhex(sys.argv[2]))',
].join('\n');

export function sendFrame(ns: Netns, ifname: string, frame: Uint8Array): void {
  ns.exec('python3', ['-c', SEND, ifname, Buffer.from(frame).toString('hex')]);
}
