#!/usr/bin/env python3
"""A test client that calls an OSM helm execution environment the way OSM's LCM does.

Runtime: Debian's python3-grpcio, python3-yaml and python3-protobuf (run it with /usr/bin/python3).

What it mimics from LCM (see docs/osm.md):
  * params: dict/list values are first turned into flow-style YAML strings
    (yaml.safe_dump(v, default_flow_style=True, width=256)), INTEGER parameters stay ints, then the
    whole dict goes through yaml.dump (keys sorted) into PrimitiveRequest.params;
  * PrimitiveRequest.id is a fresh UUID;
  * RunPrimitive's whole stream is read; every reply is kept as "<status>: <detailed_message>",
    but only the LAST reply is judged: for `config` only OK passes, for other primitives OK or
    PROCESSING pass; an empty stream is an error ("No result received");
  * transport: mutual TLS first when credentials are given; if the server answers plaintext
    (OpenSSL WRONG_VERSION_NUMBER) and TLS is not enforced, the call is retried in plaintext;
  * connection refused / unavailable is retried (LCM: 600 s for config and GetSshKey, 30 s else).

Stubs: if grpc_tools is installed, frontend_pb2/_pb2_grpc are generated at runtime from
proto/osm_ee/frontend.proto. Otherwise (Debian has no python3-grpc-tools) the messages are built
from a hand-written descriptor that follows the published OSM contract (not our .proto file), and
the call goes through grpc's generic channel.unary_stream / unary_unary with protobuf
(de)serializers - so a mistake in our proto would show up as a failure here.

Usage:
  lcm_client.py --address HOST:PORT [--ca F --cert F --key F] [--tls-enforce] run NAME [--params-json J | --params-raw TEXT]
  lcm_client.py ... day1 --config-json J --channel-json J
  lcm_client.py ... ssh-key
  lcm_client.py ... vnfd-day1 --vnfd deploy/osm/macsec_vnf/macsec_vnfd.yaml --additional-params-json J [--path-map FROM=TO]
Output: one JSON object per primitive on stdout. Exit status 0 when LCM would accept every result.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import uuid

import grpc
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "proto"))

RUN_PATH = "/osm_ee.FrontendExecutor/RunPrimitive"
SSH_PATH = "/osm_ee.FrontendExecutor/GetSshKey"


# --------------------------------------------------------------------------- messages


def _stubs_from_grpc_tools():
    try:
        from grpc_tools import protoc  # type: ignore
    except ImportError:
        return None
    out = tempfile.mkdtemp(prefix="osm_ee_stubs_")
    rc = protoc.main(["protoc", "-I" + PROTO_DIR, "--python_out=" + out, "--grpc_python_out=" + out,
                      os.path.join(PROTO_DIR, "osm_ee", "frontend.proto")])
    if rc != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    sys.path.insert(0, out)
    from osm_ee import frontend_pb2  # type: ignore
    return ("grpc_tools", frontend_pb2.PrimitiveRequest, frontend_pb2.PrimitiveReply,
            frontend_pb2.SshKeyRequest, frontend_pb2.SshKeyReply)


def _stubs_hand_written():
    from google.protobuf import descriptor_pb2, descriptor_pool

    fdp = descriptor_pb2.FileDescriptorProto(name="lcm_client/osm_ee_frontend.proto", package="osm_ee", syntax="proto3")

    def message(name, fields):
        m = fdp.message_type.add(name=name)
        for number, fname in enumerate(fields, start=1):
            m.field.add(name=fname, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)

    # The OSM contract: every field is a string, numbered in this order.
    message("PrimitiveRequest", ["id", "name", "params"])
    message("PrimitiveReply", ["status", "detailed_message"])
    message("SshKeyRequest", [])
    message("SshKeyReply", ["message"])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)

    def cls(name):
        desc = pool.FindMessageTypeByName("osm_ee." + name)
        try:
            from google.protobuf import message_factory
            if hasattr(message_factory, "GetMessageClass"):
                return message_factory.GetMessageClass(desc)
            return message_factory.MessageFactory(pool).GetPrototype(desc)
        except Exception:  # very old runtimes
            from google.protobuf import reflection
            return reflection.GeneratedProtocolMessageType(name, (reflection.message.Message,), {"DESCRIPTOR": desc})

    return ("hand-written descriptor", cls("PrimitiveRequest"), cls("PrimitiveReply"), cls("SshKeyRequest"), cls("SshKeyReply"))


STUB_KIND, PrimitiveRequest, PrimitiveReply, SshKeyRequest, SshKeyReply = _stubs_from_grpc_tools() or _stubs_hand_written()


# --------------------------------------------------------------------------- LCM behaviour


def lcm_params(params, integer_params=()):
    """Parameter dict as LCM builds it before yaml.dump."""
    out = {}
    for k, v in params.items():
        if isinstance(v, (dict, list, tuple)):
            v = yaml.safe_dump(v, default_flow_style=True, width=256)
        elif k in integer_params and v is not None:
            v = int(v)
        out[k] = v
    return out


def judge(primitive, replies):
    """LCM keeps only the last reply."""
    if not replies:
        return False, "No result received"
    status, detail = replies[-1]
    if primitive == "config":
        return status == "OK", detail
    return status in ("OK", "PROCESSING"), detail


class Ee:
    def __init__(self, address, ca=None, cert=None, key=None, tls_enforce=False, server_name=None):
        self.address = address
        self.creds = None
        if ca:
            rd = lambda p: open(p, "rb").read() if p else None  # noqa: E731
            self.creds = grpc.ssl_channel_credentials(root_certificates=rd(ca), private_key=rd(key), certificate_chain=rd(cert))
        self.tls_enforce = tls_enforce
        self.options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        self.transport = None

    def _channel(self, secure):
        if secure:
            return grpc.secure_channel(self.address, self.creds, options=self.options)
        return grpc.insecure_channel(self.address)

    def _call(self, fn, retry_seconds):
        """Runs fn(channel) over TLS (when configured) with LCM's plaintext fallback and retries."""
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                if self.creds is not None:
                    try:
                        with self._channel(True) as ch:
                            r = fn(ch)
                            self.transport = "mtls"
                            return r
                    except grpc.RpcError as e:
                        # LCM (grpclib + Python ssl) checks ssl_error.reason == "WRONG_VERSION_NUMBER";
                        # grpcio reports it in its details, OpenSSL 3 as "wrong version number".
                        details = (e.details() or "").upper().replace(" ", "_")
                        if e.code() == grpc.StatusCode.UNAVAILABLE and "WRONG_VERSION_NUMBER" in details and not self.tls_enforce:
                            # LCM: "Execution environment doesn't support TLS, falling back to unsecure gRPC"
                            pass
                        else:
                            raise
                with self._channel(False) as ch:
                    r = fn(ch)
                    self.transport = "plaintext"
                    return r
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                raise

    def run_primitive(self, name, params_text, timeout=120, retry_seconds=None):
        if retry_seconds is None:
            retry_seconds = 600 if name == "config" else 30

        def go(ch):
            call = ch.unary_stream(RUN_PATH, request_serializer=PrimitiveRequest.SerializeToString,
                                   response_deserializer=PrimitiveReply.FromString)
            req = PrimitiveRequest(id=str(uuid.uuid4()), name=name, params=params_text)
            return [(r.status, r.detailed_message) for r in call(req, timeout=timeout)]

        return self._call(go, retry_seconds)

    def get_ssh_key(self, retry_seconds=600):
        def go(ch):
            call = ch.unary_unary(SSH_PATH, request_serializer=SshKeyRequest.SerializeToString,
                                  response_deserializer=SshKeyReply.FromString)
            return call(SshKeyRequest(), timeout=30).message

        return self._call(go, retry_seconds)


def execute(ee, name, params=None, raw=None, block_style=False, retry_seconds=None):
    if raw is not None:
        text = raw
    else:
        d = lcm_params(params or {})
        text = yaml.dump(d) if block_style else yaml.dump(d, default_flow_style=True)
    result = {"primitive": name, "stubs": STUB_KIND}
    try:
        replies = ee.run_primitive(name, text, retry_seconds=retry_seconds)
        passed, detail = judge(name, replies)
        result.update(transport=ee.transport, replies=["%s: %s" % r for r in replies],
                      status=replies[-1][0] if replies else None, detailed_message=detail, passed=passed)
    except grpc.RpcError as e:
        result.update(transport=None, replies=[], status=None, passed=False,
                      detailed_message="gRPC error %s: %s" % (e.code().name, e.details()))
    print(json.dumps(result), flush=True)
    return result["passed"]


def vnfd_day1(vnfd_file, additional, path_map, section="initial-config-primitive"):
    """The initial-config-primitives (or terminate-config-primitives) of a VNFD in seq order, with
    <param> values substituted from the VNF's additionalParams like LCM does (INTEGER-typed values
    become ints)."""
    vnfd = yaml.safe_load(open(vnfd_file))["vnfd"]
    day12 = vnfd["df"][0]["lcm-operations-configuration"]["operate-vnf-op-config"]["day1-2"][0]
    steps = []
    for prim in sorted(day12.get(section, []), key=lambda p: int(p["seq"])):
        params = {}
        for par in prim.get("parameter", []) or []:
            v = par.get("value")
            if isinstance(v, str) and v.startswith("<") and v.endswith(">"):
                key = v[1:-1]
                if key not in additional:
                    raise SystemExit("instantiation parameter %r missing for primitive %s" % (key, prim["name"]))
                v = additional[key]
            if isinstance(v, str):
                for src, dst in path_map:
                    if v.startswith(src):
                        v = dst + v[len(src):]
            if par.get("data-type") == "INTEGER" and v is not None:
                v = int(v)
            params[par["name"]] = v
        steps.append((prim["name"], params))
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--server-name")
    ap.add_argument("--tls-enforce", action="store_true")
    ap.add_argument("--block-style", action="store_true", help="yaml.dump without default_flow_style=True")
    ap.add_argument("--retry-seconds", type=float)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("name")
    r.add_argument("--params-json")
    r.add_argument("--params-raw")
    d = sub.add_parser("day1")
    d.add_argument("--config-json", required=True)
    d.add_argument("--channel-json", required=True)
    sub.add_parser("ssh-key")
    v = sub.add_parser("vnfd-day1", help="run a VNFD's initial-config-primitives like LCM")
    v.add_argument("--vnfd", required=True)
    v.add_argument("--additional-params-json", required=True, help="the VNF's additionalParams")
    v.add_argument("--path-map", action="append", default=[], help="FROM=TO: where the EE pod's mounted files are in this test")
    v.add_argument("--section", default="initial-config-primitive", choices=["initial-config-primitive", "terminate-config-primitive"])
    a = ap.parse_args()

    ee = Ee(a.address, a.ca, a.cert, a.key, a.tls_enforce, a.server_name)
    if a.cmd == "ssh-key":
        try:
            key = ee.get_ssh_key(retry_seconds=a.retry_seconds if a.retry_seconds is not None else 600)
            print(json.dumps({"ssh_key": key, "transport": ee.transport, "stubs": STUB_KIND}))
            return 0
        except grpc.RpcError as e:
            print(json.dumps({"error": "%s: %s" % (e.code().name, e.details())}))
            return 1
    if a.cmd == "run":
        params = json.loads(a.params_json) if a.params_json else {}
        ok = execute(ee, a.name, params, a.params_raw, a.block_style, a.retry_seconds)
        return 0 if ok else 1
    if a.cmd == "vnfd-day1":
        pm = [tuple(m.split("=", 1)) for m in a.path_map]
        for name, params in vnfd_day1(a.vnfd, json.loads(a.additional_params_json), pm, a.section):
            if not execute(ee, name, params, None, a.block_style, a.retry_seconds):
                return 1
        return 0
    # day-1: config, then the initial-config-primitives in seq order; stop at the first failure like LCM.
    for name, params in (("config", json.loads(a.config_json)), ("health-check", {}),
                         ("create-secure-channel", json.loads(a.channel_json))):
        if not execute(ee, name, params, None, a.block_style, a.retry_seconds):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
