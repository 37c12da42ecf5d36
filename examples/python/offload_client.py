"""A small Python client for offload (offload.v1.ComputeService).

Generate the messages first (see README.md), start a server (`npm start`), then:

    /usr/bin/python3 examples/python/offload_client.py --address 127.0.0.1:50051
"""

import argparse
import os
import random
import sys
import time
import uuid
from datetime import timezone

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


# Every call about a job carries its id in this header, so a balancer hashing on it (nginx:
# `hash $http_offload_job_id consistent;`) sends them all to the replica that holds the job.
JOB_ID_HEADER = "offload-job-id"


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


def _serialize(message):
    # Deterministic: a Struct's fields (a protobuf map) in sorted order. Otherwise their order on the wire
    # varies from one serialization to the next, and offload, which compares a resubmitted job's request
    # with the first, may answer the same submit with ALREADY_EXISTS.
    return message.SerializeToString(deterministic=True)


def _event(kind, message):
    """A watched job's event (or outcome) as run_stream and run_batch give theirs."""
    if kind == "result":
        return kind, (from_value(message.output), message.data)
    if kind == "failure":
        return kind, (STATUS_BY_NUMBER[message.code], message.message)
    return kind, message


def _job(job):
    """A Job message as a dict; "outcome" is ("result", (output, data)), ("failure", (code, message)) or None."""
    outcome = "result" if job.HasField("result") else "failure" if job.HasField("failure") else None
    return {
        "id": job.id,
        "task": job.task,
        "state": pb.JobState.Name(job.state).removeprefix("JOB_STATE_"),  # QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED
        "progress": job.progress if job.HasField("progress") else None,
        "outcome": _event(outcome, getattr(job, outcome)) if outcome else None,
        "created_at": job.created_at.ToDatetime(tzinfo=timezone.utc),
    }


def _dropped(error):
    """True when a call broke off while the job may well run on: the connection dropped (UNAVAILABLE), the
    stream was reset (behind nginx a killed replica's streams end INTERNAL "RST_STREAM"), or the deadline passed."""
    code = error.code()
    return code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) or (
        code == grpc.StatusCode.INTERNAL and "RST_STREAM" in (error.details() or "")
    )


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
                SERVICE + name, request_serializer=_serialize, response_deserializer=response.FromString
            )
        self._run = method("unary_unary", "Run", pb.RunRequest, pb.RunResponse)
        self._run_stream = method("unary_stream", "RunStream", pb.RunStreamRequest, pb.RunStreamResponse)
        self._run_batch = method("stream_stream", "RunBatch", pb.RunBatchRequest, pb.RunBatchResponse)
        self._list_tasks = method("unary_unary", "ListTasks", pb.ListTasksRequest, pb.ListTasksResponse)
        self._submit = method("unary_unary", "Submit", pb.SubmitRequest, pb.SubmitResponse)
        self._watch = method("unary_stream", "Watch", pb.WatchRequest, pb.WatchResponse)
        self._get_job = method("unary_unary", "GetJob", pb.GetJobRequest, pb.GetJobResponse)
        self._cancel_job = method("unary_unary", "CancelJob", pb.CancelJobRequest, pb.CancelJobResponse)

    def _call_options(self, timeout, job_id=None):
        metadata = self._metadata
        if job_id is not None:  # a call about a job: route it to the replica that holds the job
            metadata = ((JOB_ID_HEADER, job_id),) + (metadata or ())
        return {"timeout": self._timeout if timeout is None else timeout, "metadata": metadata}

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

    def submit(self, task, input=None, data=b"", job_id=None, timeout=None):
        """Admits a job that outlives this call and returns (job_id, created) as soon as it is admitted.
        Submitting the same job_id with the same request again returns that job with created False."""
        # The id is chosen here, not by the server, so that this first call is routed like every later one
        # and a submit whose answer was lost can simply be sent again.
        job_id = job_id or str(uuid.uuid4())
        request = pb.SubmitRequest(task=task, input=to_value(input), data=data, job_id=job_id)
        response = self._submit(request, **self._call_options(timeout, job_id))
        return response.job.id, response.created

    def watch(self, job_id, timeout=None):
        """Yields a job's events as run_stream does: ("started", Started) once it has started, its latest
        ("progress", Progress), live progress, then ("result", (output, data)) or ("failure", (code, message)).
        Leaving the loop early ends this watch only: the job runs on, and watch() again re-attaches."""
        call = self._watch(pb.WatchRequest(job_id=job_id), **self._call_options(timeout, job_id))
        try:
            for event in call:
                kind = event.WhichOneof("event")
                yield _event(kind, getattr(event, kind))
        finally:
            call.cancel()  # cancels the Watch call, never the job

    def get_job(self, job_id, timeout=None):
        """The job as it is now: a dict with id, task, state, progress, outcome and created_at."""
        return _job(self._get_job(pb.GetJobRequest(job_id=job_id), **self._call_options(timeout, job_id)).job)

    def cancel_job(self, job_id, timeout=None):
        """Stops the job (its watchers get ("failure", (CANCELLED, ...))); an ended job is left as it is.
        Returns the job as get_job does."""
        return _job(self._cancel_job(pb.CancelJobRequest(job_id=job_id), **self._call_options(timeout, job_id)).job)

    def run_job(self, task, input=None, data=b"", job_id=None, retries=5):
        """Submits a job and follows it to its end, yielding watch()'s events, through dropped streams and
        lost replicas: after UNAVAILABLE (or a reset stream, or a watch's deadline) it watches again, with
        backoff; when Watch says NOT_FOUND (the replica holding the job is gone) it submits again with the
        same id, and progress starts over. Gives up after `retries` failures in a row. Each watch has the
        client's timeout; a longer job is watched again when it passes, so it may run for any time."""
        job_id = job_id or str(uuid.uuid4())
        submitted, failures = False, 0
        while True:
            try:
                if not submitted:
                    self.submit(task, input, data, job_id)  # safe to repeat: the same id and request give the same job
                    submitted = True
                for kind, value in self.watch(job_id):
                    failures = 0
                    yield kind, value
                    if kind in ("result", "failure"):
                        return
            except grpc.RpcError as e:
                lost = submitted and e.code() == grpc.StatusCode.NOT_FOUND  # from Watch, not an unknown task
                if failures == retries or not (lost or _dropped(e)):
                    raise
                submitted = not lost
                failures += 1
                time.sleep(min(5.0, 0.2 * 2**failures) * random.uniform(0.5, 1.0))  # 0.2-0.4 s, 0.4-0.8 s, ...

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

    jobs_demo(client)


def jobs_demo(client):
    # A job outlives the call that submitted it: the id is ours, a watch can be dropped and re-attached.
    job_id = f"demo-spin-{uuid.uuid4().hex[:8]}"
    spin = {"ms": 1500, "steps": 10}
    job_id, created = client.submit("spin", spin, job_id=job_id)
    print(f"job {job_id}: spin for 1500 ms submitted (created={created})")

    last = 0.0
    watch = client.watch(job_id)
    for kind, event in watch:
        if kind == "progress":
            print(f"  watching {event.fraction:4.0%} {event.message}")
            last = event.fraction
            if last >= 0.3:
                break  # drop the watch part-way
    watch.close()  # cancels this Watch call at once (a generator merely left behind is closed when collected)
    print(f"  detached at {last:.0%}; the job runs on")
    time.sleep(0.3)

    for kind, event in client.watch(job_id):  # a new watch: the latest progress, then live events
        if kind == "progress":
            print(f"  re-attached {event.fraction:4.0%} {event.message}")
        elif kind == "result":
            print(f"  job result: {event[0]}")
        elif kind == "failure":
            print(f"  job failed with {event[0].name}: {event[1]}")

    _, created = client.submit("spin", spin, job_id=job_id)  # the same id and request: the same job
    print(f"  submitted again with the same id: created={created}")
    job = client.get_job(job_id)
    print(f"  get_job: {job['state']}, {job['progress'].fraction:.0%}, outcome {job['outcome'][0]}")

    job_id, _ = client.submit("spin", {"ms": 30_000})  # no id given: submit chooses a uuid4
    client.cancel_job(job_id)  # answers at once; the job may say RUNNING until its worker has stopped
    for kind, event in client.watch(job_id):
        if kind == "failure":
            print(f"cancelled job: failed with {event[0].name}: {event[1]}")


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
