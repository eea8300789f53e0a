#!/usr/bin/env python3
"""Replays captured MACsec frames on a lab interface (inside a UML namespace only).

  replay-frames.py IFACE PCAP SRC_MAC COUNTERS_NS STATE_DIR OUT_DIR MAX_S

The attacker of test/lab/agent/replay-restart.lab.test.ts. Started early (python starts slowly in
UML), it then follows files in STATE_DIR:
  go-control  read every MACsec frame (ethertype 0x88e5) from SRC_MAC in PCAP, send them once
              (1 ms apart) between two counter snapshots written to OUT_DIR/control.jsonl,
              then create STATE_DIR/control-done
              and the baseline snapshot of OUT_DIR/rounds.jsonl
  go-rounds   send them over and over (cycling, 1 ms apart) from a second thread, while the
              main thread writes a counter snapshot to OUT_DIR/rounds.jsonl every ~0.3 s, until
              STATE_DIR/stop exists or MAX_S seconds passed (a last snapshot 0.2 s after the
              last frame)
A snapshot is one JSON line {t (ms since the epoch), sent (frames sent so far), show (`ip -s -j
macsec show macsec0`), link (`ip -s -j link show macsec0`)}, both read in namespace COUNTERS_NS
(the receiver).
"""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off : off + 16])
        off += 16
        yield data[off : off + incl]
        off += incl


def snapshot(ns, sent):
    r = subprocess.run(
        ["ip", "netns", "exec", ns, "sh", "-c", "ip -s -j macsec show macsec0; echo; ip -s -j link show macsec0"],
        capture_output=True,
        text=True,
    )
    docs = [line for line in r.stdout.split("\n") if line.strip()]
    out = {"t": int(time.time() * 1000), "sent": sent, "show": [], "link": []}
    for key, doc in zip(("show", "link"), docs):
        try:
            out[key] = json.loads(doc)
        except ValueError:
            pass
    return json.dumps(out) + "\n"


def wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.01)


def main():
    iface, pcap, src, ns, state, out_dir, max_s = sys.argv[1:8]
    max_s = float(max_s)
    src_b = bytes.fromhex(src.replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    print("ready", flush=True)

    wait_for(os.path.join(state, "go-control"))
    macsec = [f for f in frames(pcap) if len(f) > 14 and f[6:12] == src_b and f[12:14] == b"\x88\xe5"]
    if not macsec:
        sys.exit(f"no MACsec frame from {src} in {pcap}")
    with open(os.path.join(out_dir, "control.jsonl"), "w") as fo:
        fo.write(snapshot(ns, 0))
        for f in macsec:
            s.send(f)
            time.sleep(0.001)
        time.sleep(0.15)
        fo.write(snapshot(ns, len(macsec)))
    # The baseline of the rounds, taken now so that sending starts at once on go-rounds.
    rounds = open(os.path.join(out_dir, "rounds.jsonl"), "w")
    rounds.write(snapshot(ns, 0))
    rounds.flush()
    open(os.path.join(state, "control-done"), "w").close()

    wait_for(os.path.join(state, "go-rounds"))
    sent = [0]
    stop = threading.Event()

    def sender():
        i = 0
        while not stop.is_set():
            s.send(macsec[i % len(macsec)])
            i += 1
            sent[0] = i
            time.sleep(0.001)

    start = time.time()
    with rounds as fo:
        t = threading.Thread(target=sender)
        t.start()
        while time.time() - start < max_s and not os.path.exists(os.path.join(state, "stop")):
            time.sleep(0.3)
            fo.write(snapshot(ns, sent[0]))
            fo.flush()
        stop.set()
        t.join()
        time.sleep(0.2)
        fo.write(snapshot(ns, sent[0]))


if __name__ == "__main__":
    main()
