"""Reference xDS client for Meshwork's tests: gRPC's own C-core xDS client (Python grpcio).

Starts one generic gRPC server per --ports entry (each answers the unary method
/meshwork.test.Echo/Name with its own name as raw bytes), points GRPC_XDS_BOOTSTRAP at the control
plane given by --xds-server, dials xds:///<target>, sends --rpcs RPCs and prints one JSON object:
{"counts": {"backend-<port>": n, ...}, "failures": [{"code": ..., "details": ...}], "rpcs": n}.
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


def start_backend(port):
    name = f"backend-{port}"

    def answer(_request, _context):
        return name.encode()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(answer)}
    )
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if bound != port:
        raise SystemExit(f"could not bind backend port {port} (got {bound})")
    server.start()
    return server


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
    parser.add_argument("--ports", required=True, help="comma-separated backend ports")
    parser.add_argument("--rpcs", type=int, default=60)
    parser.add_argument("--rpc-timeout", type=float, default=5.0)
    parser.add_argument("--first-rpc-timeout", type=float, default=30.0)
    args = parser.parse_args()

    servers = [start_backend(int(p)) for p in args.ports.split(",") if p]
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

    print(json.dumps({
        "counts": counts,
        "failures": failures,
        "rpcs": args.rpcs,
        "seconds": round(time.monotonic() - started, 3),
    }))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
