#!/usr/bin/env python3
"""Injects bad MKPDUs on a lab interface (inside a UML namespace only).

  mkpdu-inject.py IFACE PCAP SRC_MAC REPEAT GAP_S OUT_JSON

Takes the last MKPDU from SRC_MAC in PCAP (a capture of a live peer), derives bad variants
from it and sends each REPEAT times through an AF_PACKET socket on IFACE, GAP_S apart:
  wrong-icv      last ICV octet flipped                       -> ICV failure
  truncated      frame cut to 40 octets (EAPOL length unchanged) -> malformed
  truncated-icv  last 8 ICV octets cut (EAPOL length unchanged)  -> malformed
  bad-psl        basic parameter set body length 0xfff          -> malformed
  short-body     EAPOL-MKA with a 3-octet body                  -> malformed
  unknown-ckn    one CKN octet changed (ICV then wrong too)      -> unknown CKN
  replay         the captured MKPDU unchanged (old MN)            -> replay
Writes {base: {len, eapolLen}, variants: {name: {sent, len}}} to OUT_JSON.
"""
import json
import socket
import struct
import sys
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


def main():
    iface, pcap, src, repeat, gap, out = sys.argv[1:7]
    repeat, gap = int(repeat), float(gap)
    src_b = bytes.fromhex(src.replace(":", ""))
    mkpdus = [f for f in frames(pcap) if len(f) > 18 and f[6:12] == src_b and f[12:14] == b"\x88\x8e" and f[15] == 5]
    if not mkpdus:
        sys.exit(f"no MKPDU from {src} in {pcap}")
    base = bytearray(mkpdus[-1])
    eapol_len = struct.unpack("!H", base[16:18])[0]
    end = 18 + eapol_len  # end of the EAPOL body (the ICV is its last 16 octets)
    base = base[:end]

    def v(fn):
        f = bytearray(base)
        return bytes(fn(f) or f)

    def flip_icv(f):
        f[end - 1] ^= 0xFF

    def bad_psl(f):
        # basic parameter set: octet 18 version, 19 priority, 20-21 flags(4 bits) + length(12 bits)
        f[20] = (f[20] & 0xF0) | 0x0F
        f[21] = 0xFF

    # The CKN is the tail of the basic parameter set: 18 + 4 + 28 (SCI, MI, MN, algo) = 50.
    def unknown_ckn(f):
        f[50] ^= 0x55

    short = bytearray(base[:14]) + bytes([base[14], 5, 0, 3, 1, 0, 0])
    variants = {
        "wrong-icv": v(flip_icv),
        "truncated": bytes(base[:40]),
        "truncated-icv": bytes(base[: end - 8]),
        "bad-psl": v(bad_psl),
        "short-body": bytes(short),
        "unknown-ckn": v(unknown_ckn),
        "replay": bytes(base),
    }
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    sent = {}
    for name, f in variants.items():
        for _ in range(repeat):
            s.send(f)
            time.sleep(gap)
        sent[name] = {"sent": repeat, "len": len(f)}
    with open(out, "w") as fo:
        json.dump({"base": {"len": len(base), "eapolLen": eapol_len, "hex": base.hex()}, "variants": sent}, fo)


if __name__ == "__main__":
    main()
