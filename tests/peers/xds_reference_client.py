"""Reference xDS client for Meshwork's tests: gRPC's own C-core xDS client (Python grpcio).

Protocol with the test (one JSON object per stdout line):
1. Starts --backends generic gRPC servers, each on a port the OS picks (127.0.0.1:0), so no other
   process can race for the port. Each answers the unary method /meshwork.test.Echo/Name with its
   own name ("backend-<port>") as raw bytes. Prints {"ports": [p1, p2, ...]}.
2. Waits for one line on stdin: the test sends it once the control plane's mesh names those ports.
   End of input without a line means the test gave up; the script then exits with status 3.
3. Points GRPC_XDS_BOOTSTRAP at the control plane given by --xds-server, dials xds:///<target>,
   sends --rpcs RPCs and prints {"counts": {"backend-<port>": n, ...},
   "failures": [{"code": ..., "details": ...}], "rpcs": n, "seconds": s}.
No generated stubs: identity (de)serializers move raw bytes.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent import futures

import grpc

SERVICE = "meshwork.test.Echo"
METHOD = "Name"


def start_backend():
    """Starts a backend on a free port; returns (server, port)."""
    # The name needs the port, which is only known after binding: the handler reads it late.
    name = {}

    def answer(_request, _context):
        return name["value"].encode()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(answer)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise SystemExit("could not bind a backend on 127.0.0.1:0")
    name["value"] = f"backend-{port}"
    server.start()
    return server, port


def emit(obj):
    print(json.dumps(obj))
    sys.stdout.flush()


def write_bootstrap(xds_server, node_id):
    bootstrap = {
        "xds_servers": [
            {
                "server_uri": xds_server,
                "channel_creds": [{"type": "insecure"}],
                "server_features": ["xds_v3"],
            }
        ],
        "node": {"id": node_id, "locality": {"zone": "test"}},
    }
    handle, path = tempfile.mkstemp(prefix="meshwork-bootstrap-", suffix=".json")
    with os.fdopen(handle, "w") as f:
        json.dump(bootstrap, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--xds-server", required=True, help="control plane host:port")
    parser.add_argument("--node-id", required=True)
    parser.add_argument("--target", required=True, help="listener name, e.g. greeter:50051")
    parser.add_argument("--backends", type=int, required=True, help="backends to start")
    parser.add_argument("--rpcs", type=int, default=60)
    parser.add_argument("--rpc-timeout", type=float, default=5.0)
    parser.add_argument("--first-rpc-timeout", type=float, default=30.0)
    args = parser.parse_args()

    backends = [start_backend() for _ in range(args.backends)]
    servers = [server for server, _ in backends]
    emit({"ports": [port for _, port in backends]})
    if not sys.stdin.readline():
        for s in servers:
            s.stop(grace=None)
        print("stdin closed before the go-ahead line; the test gave up", file=sys.stderr)
        return 3
    path = write_bootstrap(args.xds_server, args.node_id)
    os.environ["GRPC_XDS_BOOTSTRAP"] = path

    counts, failures = {}, []
    started = time.monotonic()
    try:
        with grpc.insecure_channel(f"xds:///{args.target}") as channel:
            call = channel.unary_unary(f"/{SERVICE}/{METHOD}")
            for i in range(args.rpcs):
                # The first RPC waits for the xDS config to arrive; the rest should be quick.
                timeout = args.first_rpc_timeout if i == 0 else args.rpc_timeout
                try:
                    reply = call(b"", timeout=timeout, wait_for_ready=(i == 0))
                    name = reply.decode()
                    counts[name] = counts.get(name, 0) + 1
                except grpc.RpcError as e:
                    failures.append({"code": str(e.code()), "details": e.details()})
    finally:
        for s in servers:
            s.stop(grace=None)
        os.unlink(path)

    emit({
        "counts": counts,
        "failures": failures,
        "rpcs": args.rpcs,
        "seconds": round(time.monotonic() - started, 3),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
