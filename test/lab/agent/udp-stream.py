#!/usr/bin/env python3
"""Paced UDP stream with sequence numbers, for lab tests (runs inside a UML namespace).

  udp-stream.py send DST_IP PORT RATE SECONDS OUT_JSON
      Sends RATE*SECONDS packets paced at RATE packets/s (catching up in bursts when the
      guest's timer is coarse or the sender was descheduled, so the average rate holds),
      each carrying its sequence number. Writes
      {sent, seconds, rate} to OUT_JSON.
  udp-stream.py recv BIND_IP PORT OUT_JSON READY_FILE IDLE_S MAX_S
      Counts packets until IDLE_S seconds pass without one (after the first), MAX_S in all, or
      SIGTERM (then what is queued is still counted).
      Touches READY_FILE once bound. Writes {received, unique, duplicates, maxSeq,
      missing (count), missingFirst (up to 50 seqs), gaps [[from, to]...] (up to 50)}.
"""
import json
import signal
import socket
import struct
import sys
import time


def send(dst, port, rate, seconds, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload_pad = b"\0" * 56
    start = time.monotonic()
    sent = 0
    errors = 0
    total = int(rate * seconds)
    while sent < total:
        elapsed = time.monotonic() - start
        due = min(total, int(elapsed * rate) + 1)
        while sent < due:
            try:
                s.sendto(struct.pack("!Q", sent) + payload_pad, (dst, port))
                sent += 1
            except OSError:
                errors += 1
                time.sleep(0.001)
                break
        time.sleep(0.0005)
    with open(out, "w") as f:
        json.dump({"sent": sent, "sendErrors": errors, "seconds": time.monotonic() - start, "rate": rate}, f)


def recv(bind, port, out, ready, idle, max_s):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)  # capped by net.core.rmem_max
    s.bind((bind, port))
    open(ready, "w").close()
    seen = bytearray()
    received = 0
    dups = 0
    max_seq = -1
    start = time.monotonic()
    last = None
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    s.settimeout(0.2)
    while True:
        now = time.monotonic()
        if now - start > max_s or (last is not None and now - last > idle):
            break
        if stop:
            s.settimeout(0.05)  # drain what is queued, then stop
        try:
            data = s.recv(2048)
        except socket.timeout:
            if stop:
                break
            continue
        except InterruptedError:
            continue
        last = time.monotonic()
        if len(data) < 8:
            continue
        (seq,) = struct.unpack("!Q", data[:8])
        received += 1
        if seq >= len(seen):
            seen.extend(b"\0" * (seq + 1 - len(seen) + 4096))
        if seen[seq]:
            dups += 1
        seen[seq] = 1
        max_seq = max(max_seq, seq)
    missing = [i for i in range(max_seq + 1) if not seen[i]]
    gaps = []
    for m in missing:
        if gaps and gaps[-1][1] == m - 1:
            gaps[-1][1] = m
        else:
            gaps.append([m, m])
    with open(out, "w") as f:
        json.dump(
            {
                "received": received,
                "unique": received - dups,
                "duplicates": dups,
                "maxSeq": max_seq,
                "missing": len(missing),
                "missingFirst": missing[:50],
                "gaps": gaps[:50],
            },
            f,
        )


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "send":
        send(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
    elif mode == "recv":
        recv(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6]), float(sys.argv[7]))
    else:
        sys.exit("usage: udp-stream.py send|recv ...")
