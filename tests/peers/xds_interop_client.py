"""gRPC's reference xDS interop client for Meshwork's conformance tests (Python grpcio, C-core).

Speaks the same flags as Meshwork's `xds-interop-client` (--server, --qps, --rpc, --metadata,
--stats_port, --rpc_timeout_sec, --num_channels, --fail_on_failed_rpc; unknown flags are
ignored): dials the `xds:///...` target with gRPC's own xDS client (bootstrap from
GRPC_XDS_BOOTSTRAP), sends the configured RPCs at --qps, and serves on --stats_port what the
framework's clients serve there: grpc.testing.LoadBalancerStatsService (per-request and accumulated
stats, including the deprecated per-method maps psm-interop's circuit_breaking test reads),
XdsUpdateClientConfigureService, and gRPC's admin services (CSDS and channelz, from grpcio-admin).
The peer of an RPC is the `hostname` response header (else SimpleResponse.hostname).

Python stubs are generated at startup with grpc_tools.protoc from proto/proto/grpc/testing into a
temporary directory, imported, and the directory removed again.
"""

import argparse
import importlib
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc
import grpc_admin

PROTO_DIR = pathlib.Path(__file__).resolve().parents[2] / "proto" / "proto" / "grpc" / "testing"
RPC_NAMES = {"EmptyCall": "EMPTY_CALL", "UnaryCall": "UNARY_CALL"}


def load_stubs():
    """Compiles empty/messages/test.proto to Python modules; returns (messages_pb2, empty_pb2,
    test_pb2, test_pb2_grpc). The protos are compiled from a flat copy (imports rewritten) so the
    modules are top-level and do not collide with the `grpc` package itself."""
    from grpc_tools import protoc

    work = tempfile.mkdtemp(prefix="meshwork-interop-stubs-")
    try:
        src = pathlib.Path(work) / "src"
        src.mkdir()
        for name in ("empty.proto", "messages.proto", "test.proto"):
            text = (PROTO_DIR / name).read_text()
            text = text.replace('import "grpc/testing/', 'import "')
            (src / name).write_text(text)
        args = ["protoc", f"-I{src}", f"--python_out={work}", f"--grpc_python_out={work}"]
        args += [str(src / n) for n in ("empty.proto", "messages.proto", "test.proto")]
        if protoc.main(args) != 0:
            raise SystemExit("grpc_tools.protoc failed on " + str(PROTO_DIR))
        sys.path.insert(0, work)
        try:
            mods = tuple(
                importlib.import_module(m)
                for m in ("messages_pb2", "empty_pb2", "test_pb2", "test_pb2_grpc")
            )
        finally:
            sys.path.remove(work)
        return mods
    finally:
        shutil.rmtree(work, ignore_errors=True)


# Filled in by main() once the stats port is bound (stub generation takes a while, and the port
# the test harness picked must be claimed before anything else on the host can take it).
messages_pb2 = empty_pb2 = test_pb2 = test_pb2_grpc = None


def parse_bool(value):
    return value.lower() in ("true", "1", "yes", "")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--server", required=True)
    p.add_argument("--qps", type=int, default=1)
    p.add_argument("--rpc", default="UnaryCall")
    p.add_argument("--metadata", default="")
    p.add_argument("--stats_port", type=int, default=50052)
    p.add_argument("--rpc_timeout_sec", type=float, default=30.0)
    p.add_argument("--num_channels", type=int, default=1)
    p.add_argument("--fail_on_failed_rpc", "--fail_on_failed_rpcs", type=parse_bool, nargs="?",
                   const=True, default=False)
    args, _unknown = p.parse_known_args()
    return args


def parse_metadata(text):
    """`EmptyCall:key:value,UnaryCall:key:value` -> {"EmptyCall": [(key, value)], ...}."""
    out = {}
    for item in filter(None, text.split(",")):
        rpc, key, value = item.split(":", 2)
        out.setdefault(rpc, []).append((key, value))
    return out


class Watcher:
    """Collects the peers of RPCs [start, end) for one GetClientStats call."""

    def __init__(self, start, end):
        self.start, self.end = start, end
        self.by_peer, self.by_method = {}, {}
        self.failures = 0
        self.remaining = end - start
        self.done = threading.Condition()

    def record(self, rpc, peer):
        with self.done:
            if peer:
                self.by_peer[peer] = self.by_peer.get(peer, 0) + 1
                per = self.by_method.setdefault(rpc, {})
                per[peer] = per.get(peer, 0) + 1
            else:
                self.failures += 1
            self.remaining -= 1
            if self.remaining == 0:
                self.done.notify_all()


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.next_id = 0
        self.watchers = []
        self.started, self.succeeded, self.failed = {}, {}, {}
        self.codes = {}
        self.rpcs = [r for r in args.rpc.split(",") if r]
        self.metadata = parse_metadata(args.metadata)
        self.default_timeout = args.rpc_timeout_sec
        self.timeout = args.rpc_timeout_sec
        self.fail_on_failed = args.fail_on_failed_rpc
        self.any_success = False

    def begin(self, rpc):
        with self.lock:
            rpc_id = self.next_id
            self.next_id += 1
            key = RPC_NAMES[rpc]
            self.started[key] = self.started.get(key, 0) + 1
            watchers = [w for w in self.watchers if w.start <= rpc_id < w.end]
            # Metadata and timeout of one Configure, never half of each.
            return rpc_id, watchers, self.metadata.get(rpc, ()), self.timeout

    def finish(self, rpc, watchers, peer, code):
        key = RPC_NAMES[rpc]
        with self.lock:
            bucket = self.succeeded if code == grpc.StatusCode.OK else self.failed
            bucket[key] = bucket.get(key, 0) + 1
            per = self.codes.setdefault(key, {})
            per[code.value[0]] = per.get(code.value[0], 0) + 1
            if code == grpc.StatusCode.OK:
                self.any_success = True
            elif self.fail_on_failed and self.any_success:
                print(f"{rpc} failed with {code} after an earlier success (--fail_on_failed_rpc)",
                      file=sys.stderr, flush=True)
                os._exit(1)
        for w in watchers:
            w.record(rpc, peer)


def send(state, channel, rpc):
    _rpc_id, watchers, metadata, timeout = state.begin(rpc)
    if rpc == "EmptyCall":
        call = channel.unary_unary(
            "/grpc.testing.TestService/EmptyCall",
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        request = empty_pb2.Empty()
    else:
        call = channel.unary_unary(
            "/grpc.testing.TestService/UnaryCall",
            request_serializer=messages_pb2.SimpleRequest.SerializeToString,
            response_deserializer=messages_pb2.SimpleResponse.FromString,
        )
        request = messages_pb2.SimpleRequest(fill_server_id=True)
    future = call.future(request, timeout=timeout, metadata=metadata)

    def done(f):
        code = f.code() or grpc.StatusCode.UNKNOWN
        peer = ""
        if code == grpc.StatusCode.OK:
            for k, v in f.initial_metadata() or ():
                if k == "hostname":
                    peer = v
            if not peer and rpc == "UnaryCall":
                peer = f.result().hostname
        state.finish(rpc, watchers, peer, code)

    future.add_done_callback(done)


def run_load(state, channels, qps):
    interval = 1.0 / max(qps, 1)
    next_at = time.monotonic()
    i = 0
    while True:
        channel = channels[i % len(channels)]
        i += 1
        for rpc in list(state.rpcs):
            send(state, channel, rpc)
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def stats_servicer(state):
    class Stats(test_pb2_grpc.LoadBalancerStatsServiceServicer):
        def GetClientStats(self, request, context):
            with state.lock:
                w = Watcher(state.next_id, state.next_id + request.num_rpcs)
                state.watchers.append(w)
            with w.done:
                w.done.wait_for(lambda: w.remaining == 0, timeout=request.timeout_sec)
            with state.lock:
                state.watchers.remove(w)
            with w.done:
                reply = messages_pb2.LoadBalancerStatsResponse(
                    num_failures=w.failures + w.remaining
                )
                for peer, n in w.by_peer.items():
                    reply.rpcs_by_peer[peer] = n
                for rpc, peers in w.by_method.items():
                    for peer, n in peers.items():
                        reply.rpcs_by_method[rpc].rpcs_by_peer[peer] = n
            return reply

        def GetClientAccumulatedStats(self, request, context):
            reply = messages_pb2.LoadBalancerAccumulatedStatsResponse()
            with state.lock:
                for key, n in state.started.items():
                    reply.num_rpcs_started_by_method[key] = n
                    reply.stats_per_method[key].rpcs_started = n
                for key, n in state.succeeded.items():
                    reply.num_rpcs_succeeded_by_method[key] = n
                for key, n in state.failed.items():
                    reply.num_rpcs_failed_by_method[key] = n
                for key, codes in state.codes.items():
                    for code, n in codes.items():
                        reply.stats_per_method[key].result[code] = n
            return reply

    return Stats()


def configure_servicer(state):
    names = {0: "EmptyCall", 1: "UnaryCall"}

    class Configure(test_pb2_grpc.XdsUpdateClientConfigureServiceServicer):
        def Configure(self, request, context):
            metadata = {}
            for m in request.metadata:
                metadata.setdefault(names[m.type], []).append((m.key, m.value))
            with state.lock:
                state.rpcs = [names[t] for t in request.types]
                state.metadata = metadata
                # 0 means the --rpc_timeout_sec default, as in the framework's clients.
                state.timeout = request.timeout_sec or state.default_timeout
            return messages_pb2.ClientConfigureResponse()

    return Configure()


def main():
    global messages_pb2, empty_pb2, test_pb2, test_pb2_grpc
    args = parse_args()
    if not os.environ.get("GRPC_XDS_BOOTSTRAP") and not os.environ.get("GRPC_XDS_BOOTSTRAP_CONFIG"):
        raise SystemExit("GRPC_XDS_BOOTSTRAP is not set")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    if server.add_insecure_port(f"0.0.0.0:{args.stats_port}") == 0:
        raise SystemExit(f"cannot bind the stats port {args.stats_port}")
    messages_pb2, empty_pb2, test_pb2, test_pb2_grpc = load_stubs()
    state = State(args)
    test_pb2_grpc.add_LoadBalancerStatsServiceServicer_to_server(stats_servicer(state), server)
    test_pb2_grpc.add_XdsUpdateClientConfigureServiceServicer_to_server(
        configure_servicer(state), server
    )
    grpc_admin.add_admin_servicers(server)
    server.start()
    channels = [grpc.insecure_channel(args.server) for _ in range(max(args.num_channels, 1))]
    threading.Thread(target=run_load, args=(state, channels, args.qps), daemon=True).start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
