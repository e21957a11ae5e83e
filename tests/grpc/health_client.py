"""A gRPC health client we did not write (grpcio-health-checking) against vitals.

Usage: health_client.py HOST:PORT WORKER
Prints one line per observation; host/vitals-daemon/tests/it/grpc_python.rs runs it and checks the lines.
The worker's heartbeat must be fresh until this prints "watch 'WORKER' SERVING", then lapse.
Every call returns as soon as the daemon answers; the deadlines only catch a daemon that never
does, on a machine that may be very busy.
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# Seconds: an answer, and a heartbeat's lapse (its TTL plus the evaluator noticing it).
ANSWER = 30
LAPSE = 60


def name(status):
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


def main():
    target, worker = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", worker):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=ANSWER)
            print(f"check {service!r} {name(reply.status)}", flush=True)
        try:
            stub.Check(health_pb2.HealthCheckRequest(service="no-such-check"), timeout=ANSWER)
            print("check 'no-such-check' answered", flush=True)
        except grpc.RpcError as error:
            print(f"check 'no-such-check' {error.code().name}", flush=True)

        unknown = stub.Watch(
            health_pb2.HealthCheckRequest(service="no-such-check"), timeout=ANSWER
        )
        print(f"watch 'no-such-check' {name(next(unknown).status)}", flush=True)
        unknown.cancel()

        # The worker's heartbeat lapses: the stream's next message says so.
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=worker), timeout=LAPSE)
        print(f"watch {worker!r} {name(next(stream).status)}", flush=True)
        print(f"watch {worker!r} {name(next(stream).status)}", flush=True)
        stream.cancel()


if __name__ == "__main__":
    main()
