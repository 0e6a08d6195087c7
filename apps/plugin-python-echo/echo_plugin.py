"""The cpg demo's Python plugin: cpg.examples.v1.EchoService served with grpcio.

It joins the cpg host at HOST_URL (or --host) over h2c with plain gRPC and no
cpg code:

1. Handshake (connect-plugin-go's magic cookie, self_id "py-echo").
2. Serve EchoService on 127.0.0.1, port PORT (default: a free one).
3. ReportHealth HEALTHY.
4. RegisterService "py-echo" with base_url and http2 "true" (grpcio speaks
   only HTTP/2, so the host's router must call it over h2c).

It runs until its stdin closes (the demo host holds it), or until SIGTERM or
SIGINT; then it unregisters, stops its server and exits 0.

The gRPC stubs are generated at start from the repository's proto/ directory
(PROTO_DIR overrides it) with grpc_tools.protoc, into a temporary directory.

Usage:
  HOST_URL=http://127.0.0.1:8080 /usr/bin/python3 echo_plugin.py
It prints one JSON object per line on stdout: joined, registered, stopped.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent import futures
from urllib.parse import urlparse

import grpc
import grpc_tools
from grpc_tools import protoc

MAGIC_COOKIE_KEY = "CONNECT_PLUGIN"
MAGIC_COOKIE_VALUE = "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e"
SELF_ID = "py-echo"
SELF_VERSION = "1.0.0"
SERVICE_TYPE = "py-echo"
ECHO_PATH = "/cpg.examples.v1.EchoService/"
CALLER_ID_HEADER = "x-plugin-caller-id"
PROTOS = [
    "plugin/v1/handshake.proto",
    "plugin/v1/registry.proto",
    "plugin/v1/lifecycle.proto",
    "cpg/examples/v1/echo.proto",
]
# The host and the plugin live on 127.0.0.1: never go through a proxy.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]
CALL_TIMEOUT_S = 10


def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description="cpg demo plugin: EchoService in Python")
    parser.add_argument(
        "--host",
        default=os.environ.get("HOST_URL", ""),
        help="host base URL, e.g. http://127.0.0.1:8080 (default: HOST_URL)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or 0),
        help="port to serve on (default: PORT, else a free port)",
    )
    parser.add_argument(
        "--proto-dir",
        default=os.environ.get("PROTO_DIR")
        or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto"),
        help="the repository's proto/ directory (default: PROTO_DIR, else ../../proto)",
    )
    args = parser.parse_args()
    host = urlparse(args.host)
    if host.scheme != "http" or not host.netloc:
        parser.error(f"set HOST_URL (or --host) to the host's http:// URL (h2c), got {args.host!r}")
    if not 0 <= args.port <= 65535:
        parser.error(f"the port must be from 0 to 65535, got {args.port}")
    return args, host.netloc


def generate_stubs(proto_dir):
    """Generates the Python modules of PROTOS into a new temporary directory."""
    proto_dir = os.path.abspath(proto_dir)
    out = tempfile.mkdtemp(prefix="cpg-py-echo-stubs-")
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            *PROTOS,
        ]
    )
    if status != 0:
        shutil.rmtree(out, ignore_errors=True)
        raise SystemExit(f"grpc_tools.protoc failed on {proto_dir} (exit status {status})")
    return out


def stop_on_stdin_close_or_signal():
    """An event set when stdin reaches its end or on SIGTERM/SIGINT."""
    stop = threading.Event()

    def watch_stdin():
        # os.read, not sys.stdin: a daemon thread blocked in a buffered read
        # holds the buffer's lock, and the interpreter aborts at exit over it.
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def main():
    args, host_netloc = parse_args()
    stubs = generate_stubs(args.proto_dir)
    try:
        run(args, host_netloc, stubs)
    finally:
        shutil.rmtree(stubs, ignore_errors=True)


def run(args, host_netloc, stubs):
    sys.path.insert(0, stubs)
    # Generated just now: importable only once the stubs are on the path.
    from cpg.examples.v1 import echo_pb2, echo_pb2_grpc
    from plugin.v1 import (
        handshake_pb2,
        handshake_pb2_grpc,
        lifecycle_pb2,
        lifecycle_pb2_grpc,
        registry_pb2,
        registry_pb2_grpc,
    )

    class Echo(echo_pb2_grpc.EchoServiceServicer):
        """EchoService, answering with the caller identity the host passed on."""

        def Echo(self, request, context):
            if request.delay_ms > 0:
                time.sleep(min(request.delay_ms, 60_000) / 1000)
            caller = dict(context.invocation_metadata()).get(CALLER_ID_HEADER, "")
            return echo_pb2.EchoResponse(message=request.message, caller_id=caller)

        def EchoServerStream(self, request, context):
            for i in range(request.count):
                yield echo_pb2.EchoServerStreamResponse(message=request.message, index=i)

        def EchoClientStream(self, request_iterator, context):
            count, last = 0, ""
            for r in request_iterator:
                count += 1
                last = r.message
            return echo_pb2.EchoClientStreamResponse(count=count, last=last)

        def EchoBidiStream(self, request_iterator, context):
            for r in request_iterator:
                yield echo_pb2.EchoBidiStreamResponse(message=r.message)

    stop = stop_on_stdin_close_or_signal()
    channel = grpc.insecure_channel(host_netloc, options=CHANNEL_OPTIONS)

    # 1. Join: a runtime identity for self_id "py-echo".
    joined = handshake_pb2_grpc.HandshakeServiceStub(channel).Handshake(
        handshake_pb2.HandshakeRequest(
            core_protocol_version=1,
            app_protocol_version=1,
            magic_cookie_key=MAGIC_COOKIE_KEY,
            magic_cookie_value=MAGIC_COOKIE_VALUE,
            self_id=SELF_ID,
            self_version=SELF_VERSION,
        ),
        timeout=CALL_TIMEOUT_S,
    )
    credentials = [
        ("x-plugin-runtime-id", joined.runtime_id),
        ("authorization", f"Bearer {joined.runtime_token}"),
    ]
    say("joined", runtimeId=joined.runtime_id)

    # 2. Serve EchoService on 127.0.0.1.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    echo_pb2_grpc.add_EchoServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    if port == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{args.port}")
    server.start()

    # 3. Healthy, then registered: a HEALTHY plugin's services can be called.
    lifecycle_pb2_grpc.PluginLifecycleStub(channel).ReportHealth(
        lifecycle_pb2.ReportHealthRequest(state=lifecycle_pb2.HEALTH_STATE_HEALTHY),
        metadata=credentials,
        timeout=CALL_TIMEOUT_S,
    )
    registry = registry_pb2_grpc.ServiceRegistryStub(channel)
    registered = registry.RegisterService(
        registry_pb2.RegisterServiceRequest(
            service_type=SERVICE_TYPE,
            version=SELF_VERSION,
            endpoint_path=ECHO_PATH,
            metadata={"base_url": f"http://127.0.0.1:{port}", "http2": "true"},
        ),
        metadata=credentials,
        timeout=CALL_TIMEOUT_S,
    )
    say(
        "registered",
        runtimeId=joined.runtime_id,
        serviceType=SERVICE_TYPE,
        url=f"http://127.0.0.1:{port}",
        registrationId=registered.registration_id,
    )

    # 4. Serve until stdin closes or a signal arrives.
    while not stop.wait():
        pass
    try:
        registry.UnregisterService(
            registry_pb2.UnregisterServiceRequest(registration_id=registered.registration_id),
            metadata=credentials,
            timeout=CALL_TIMEOUT_S,
        )
    except grpc.RpcError as error:
        # The host may be gone already: stop anyway.
        say("unregister-failed", code=error.code().name, details=error.details())
    server.stop(grace=1).wait()
    channel.close()
    say("stopped")


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as error:
        say("failed", code=error.code().name, details=error.details())
        sys.exit(1)
