"""A small Python client for offload (offload.v1.ComputeService).

Generate the messages first (see README.md), start a server (`npm start`), then:

    /usr/bin/python3 examples/python/offload_client.py --address 127.0.0.1:50051
"""

import argparse
import os
import sys

import grpc
from google.protobuf import json_format, struct_pb2

# protoc writes offload/v1/compute_pb2.py into gen/ next to this file;
# OFFLOAD_PY_GEN points elsewhere (the tests generate into a temporary folder).
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("OFFLOAD_PY_GEN") or os.path.join(HERE, "gen"))
try:
    from offload.v1 import compute_pb2 as pb
except ModuleNotFoundError:
    print("offload_client.py: the generated messages are missing; from the repository root run\n"
          "  mkdir -p examples/python/gen && protoc -I proto -I /usr/include "
          "--python_out=examples/python/gen proto/offload/v1/compute.proto", file=sys.stderr)
    sys.exit(2)

SERVICE = "/offload.v1.ComputeService/"
# grpc.StatusCode values are (number, name) pairs; a batch failure carries only the number.
STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def to_value(obj):
    """A Python dict/list/str/number/bool as a google.protobuf.Value; None leaves the field unset."""
    return None if obj is None else json_format.ParseDict(obj, struct_pb2.Value())


def from_value(value):
    """The plain Python value a google.protobuf.Value holds."""
    return _whole_numbers_as_ints(json_format.MessageToDict(value))


def _whole_numbers_as_ints(obj):
    # JSON numbers travel as doubles, so 78498 arrives as 78498.0; json.loads would give 78498.
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    if isinstance(obj, dict):
        return {key: _whole_numbers_as_ints(item) for key, item in obj.items()}
    if isinstance(obj, list):
        return [_whole_numbers_as_ints(item) for item in obj]
    return obj


class OffloadClient:
    """Runs offload tasks. Methods raise grpc.RpcError when a call fails."""

    def __init__(self, address, token=None, ca=None, timeout=30.0):
        if ca:  # TLS, trusting the given CA bundle (PEM) instead of the system's roots
            with open(ca, "rb") as f:
                credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
            self._channel = grpc.secure_channel(address, credentials)
        else:
            self._channel = grpc.insecure_channel(address)
        # Sent with every call; a server started with --auth-token-file requires it.
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        # Every call gets a deadline: without one a call to a stuck server waits forever.
        self._timeout = timeout
        # No grpc_tools stubs (Debian does not package them): call methods by path.
        def method(kind, name, request, response):
            return getattr(self._channel, kind)(
                SERVICE + name, request_serializer=request.SerializeToString, response_deserializer=response.FromString
            )
        self._run = method("unary_unary", "Run", pb.RunRequest, pb.RunResponse)
        self._run_stream = method("unary_stream", "RunStream", pb.RunStreamRequest, pb.RunStreamResponse)
        self._run_batch = method("stream_stream", "RunBatch", pb.RunBatchRequest, pb.RunBatchResponse)
        self._list_tasks = method("unary_unary", "ListTasks", pb.ListTasksRequest, pb.ListTasksResponse)

    def _call_options(self, timeout):
        return {"timeout": self._timeout if timeout is None else timeout, "metadata": self._metadata}

    def list_tasks(self, timeout=None):
        """[(name, description)] of every task the server can run."""
        response = self._list_tasks(pb.ListTasksRequest(), **self._call_options(timeout))
        return [(task.name, task.description) for task in response.tasks]

    def run(self, task, input=None, data=b"", timeout=None):
        """Runs one task and returns (output, data) once it has finished."""
        request = pb.RunRequest(task=task, input=to_value(input), data=data)
        result = self._run(request, **self._call_options(timeout)).result
        return from_value(result.output), result.data

    def run_stream(self, task, input=None, data=b"", timeout=None):
        """Yields ("started", Started), ("progress", Progress)..., then ("result", (output, data))."""
        request = pb.RunStreamRequest(task=task, input=to_value(input), data=data)
        call = self._run_stream(request, **self._call_options(timeout))
        try:
            for event in call:
                kind = event.WhichOneof("event")
                if kind == "result":
                    yield kind, (from_value(event.result.output), event.result.data)
                else:
                    yield kind, getattr(event, kind)
        finally:
            call.cancel()  # a caller leaving the loop early stops the task; a no-op once the call is done

    def run_batch(self, items, timeout=None):
        """Runs items ({"id", "task", "input"?, "data"?} dicts) concurrently; yields (id, (kind, value))
        as events arrive: started, progress, then ("result", (output, data)) or ("failure", (code, message))."""
        requests = (
            pb.RunBatchRequest(id=i["id"], task=i["task"], input=to_value(i.get("input")), data=i.get("data", b""))
            for i in items  # a generator: grpc sends items as the server asks for them, then half-closes
        )
        call = self._run_batch(requests, **self._call_options(timeout))  # timeout covers the whole batch
        try:
            for event in call:
                kind = event.WhichOneof("event")
                if kind == "result":
                    yield event.id, (kind, (from_value(event.result.output), event.result.data))
                elif kind == "failure":
                    yield event.id, (kind, (STATUS_BY_NUMBER[event.failure.code], event.failure.message))
                else:
                    yield event.id, (kind, getattr(event, kind))
        finally:
            call.cancel()

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def demo(client):
    print("tasks:", ", ".join(name for name, _ in client.list_tasks()))

    output, _ = client.run("primes", {"limit": 1_000_000})
    print(f"primes below 1,000,000: {output['count']}")

    print("spin for 500 ms:")
    for kind, event in client.run_stream("spin", {"ms": 500, "steps": 5}):
        if kind == "progress":
            print(f"  {event.fraction:4.0%} {event.message}".rstrip())
        elif kind == "result":
            print(f"  result: {event[0]}")

    items = [
        {"id": "hash", "task": "sha256", "data": b"hello, offload"},
        {"id": "echo", "task": "echo", "input": {"greeting": "hi"}},
        {"id": "primes", "task": "primes", "input": {"limit": 100}},
        {"id": "oops", "task": "no-such-task"},  # fails alone; the rest of the batch goes on
    ]
    print("batch:")
    for item_id, (kind, value) in client.run_batch(items):
        if kind == "result":
            print(f"  {item_id}: {value[0]}")
        elif kind == "failure":
            code, message = value
            print(f"  {item_id}: failed with {code.name}: {message}")

    # A failing call raises grpc.RpcError; code() and details() say why.
    try:
        client.run("spin", {"ms": 70_000})
    except grpc.RpcError as e:
        print(f"spin 70000 ms refused: {e.code().name}: {e.details()}")


def main():
    parser = argparse.ArgumentParser(description="Calls every RPC of an offload server.")
    parser.add_argument("--address", default=os.environ.get("OFFLOAD_ADDRESS", "127.0.0.1:50051"))
    parser.add_argument("--token", help="bearer token, for a server started with --auth-token-file")
    parser.add_argument("--ca", help="PEM CA bundle: connect with TLS and trust this CA")
    args = parser.parse_args()
    with OffloadClient(args.address, token=args.token, ca=args.ca) as client:
        try:
            demo(client)
        except grpc.RpcError as e:  # unreachable server, wrong token, ...
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
