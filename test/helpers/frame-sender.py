#!/usr/bin/env python3
# Runs inside a pod's network namespace (netns drills): sends crafted Ethernet
# frames on an interface with an AF_PACKET socket, then counts for a while the TCP
# segments that come back from one address to one port, i.e. whether the target's
# stack answered. Python's standard library only (scapy is not installed here).
#   stdin:  {"iface": "eth0", "frames": ["<hex>", ...],
#            "answer": {"src": "<ip>", "dport": <port>}, "listen_ms": 600}
#   stdout: {"sent": n, "answers": m}
import ipaddress
import json
import select
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def answer_matches(frame, src, dport):
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == 0x0800 and src.version == 4:
        ihl = (frame[14] & 0x0F) * 4
        return frame[23] == 6 and frame[26:30] == src.packed and int.from_bytes(frame[14 + ihl + 2 : 14 + ihl + 4], "big") == dport
    if ethertype == 0x86DD and src.version == 6:
        # the answers of a stack carry no extension headers
        return frame[20] == 6 and frame[22:38] == src.packed and int.from_bytes(frame[56:58], "big") == dport
    return False


def main():
    req = json.load(sys.stdin)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((req["iface"], 0))
    for f in req["frames"]:
        s.send(bytes.fromhex(f))
    answers = 0
    answer = req.get("answer")
    if answer is not None:
        src = ipaddress.ip_address(answer["src"])
        deadline = time.monotonic() + req.get("listen_ms", 600) / 1000
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                break
            frame, addr = s.recvfrom(65535)
            if addr[2] != PACKET_OUTGOING and answer_matches(frame, src, answer["dport"]):
                answers += 1
    print(json.dumps({"sent": len(req["frames"]), "answers": answers}))


main()
