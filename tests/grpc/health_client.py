"""A gRPC health client we did not write (grpcio-health-checking) against vitals.

Usage: health_client.py HOST:PORT WORKER
Prints one line per observation; host/tests/grpc_python.rs runs it and checks the lines.
The worker's heartbeat must be fresh when this starts and lapse while it watches.
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def name(status):
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


def main():
    target, worker = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", worker):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            print(f"check {service!r} {name(reply.status)}", flush=True)
        try:
            stub.Check(health_pb2.HealthCheckRequest(service="no-such-check"), timeout=5)
            print("check 'no-such-check' answered", flush=True)
        except grpc.RpcError as error:
            print(f"check 'no-such-check' {error.code().name}", flush=True)

        unknown = stub.Watch(health_pb2.HealthCheckRequest(service="no-such-check"), timeout=5)
        print(f"watch 'no-such-check' {name(next(unknown).status)}", flush=True)
        unknown.cancel()

        # The worker's heartbeat lapses: the stream's next message says so.
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=worker), timeout=10)
        print(f"watch {worker!r} {name(next(stream).status)}", flush=True)
        print(f"watch {worker!r} {name(next(stream).status)}", flush=True)
        stream.cancel()


if __name__ == "__main__":
    main()
