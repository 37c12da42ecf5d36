"""The Python seed pattern: offload.v1.ComputeService on grpc.aio, every task
submitted to a ProcessPoolExecutor and awaited with asyncio.wrap_future,
progress streamed from the worker processes over a multiprocessing queue that
one thread pumps into the event loop.

Usage: PYTHONPATH=GENDIR /usr/bin/python3 server.py --port 0 --workers 2 --catalog tasks.json

GENDIR holds protoc's --python_out for proto/offload/v1/compute.proto; the
catalogue (name, description, input schema per task) comes from the bundled
TypeScript tasks so ListTasks answers what offload answers. Prints
`listening on HOST:PORT` once ready; SIGTERM stops it.
"""

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

import grpc
from google.protobuf import json_format, struct_pb2

from offload.v1 import compute_pb2 as pb

import seed_tasks

SERVICE = "offload.v1.ComputeService"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
HOST = "127.0.0.1"


class Failed(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def plain(request):
    return json_format.MessageToDict(request.input) if request.HasField("input") else None


def value(obj):
    return json_format.ParseDict(obj, struct_pb2.Value())


class Compute:
    def __init__(self, loop, pool, progress_queue, catalogue):
        self.loop = loop
        self.pool = pool
        self.ids = itertools.count(1)
        self.listeners = {}  # call_id -> asyncio.Queue of progress items
        self.catalogue = pb.ListTasksResponse(
            tasks=[
                pb.TaskInfo(name=t["name"], description=t["description"], input_schema=json_format.ParseDict(t["input"], struct_pb2.Struct()))
                for t in catalogue
            ]
        )
        self.task_names = {t["name"] for t in catalogue}
        self.pump = threading.Thread(target=self._pump, args=(progress_queue,), daemon=True)
        self.pump.start()

    def _pump(self, q):
        """Moves progress items from the worker processes into the loop, in batches."""
        while True:
            item = q.get()
            if item is None:
                return
            batch = [item]
            try:
                while len(batch) < 256:
                    batch.append(q.get_nowait())
            except Exception:
                pass
            self.loop.call_soon_threadsafe(self._deliver, batch)

    def _deliver(self, batch):
        for item in batch:
            listener = self.listeners.get(item[0])
            if listener is not None:
                listener.put_nowait(item)

    def _check(self, name):
        if name not in self.task_names:
            raise Failed(grpc.StatusCode.NOT_FOUND, f'unknown task "{name}"')

    def _result(self, output, data, run_ms):
        return pb.TaskResult(output=value(output), data=data or b"", queued_ms=0, run_ms=run_ms)

    async def _submit(self, name, input, data, call_id):
        try:
            return await asyncio.wrap_future(self.pool.submit(seed_tasks.run_task, name, input, data, call_id))
        except Failed:
            raise
        except Exception as error:
            raise Failed(grpc.StatusCode.INTERNAL, f"task {name} failed: {error}")

    async def events(self, name, input, data):
        """Yields (kind, payload) for one run: started, progress..., then result."""
        self._check(name)
        call_id = next(self.ids)
        listener = asyncio.Queue()
        self.listeners[call_id] = listener
        future = asyncio.ensure_future(self._submit(name, input, data, call_id))
        getter = None
        try:
            while True:
                if getter is None:
                    getter = asyncio.ensure_future(listener.get())
                waiting = {getter} if future.done() else {getter, future}
                done, _ = await asyncio.wait(waiting, timeout=None if not future.done() else 10, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    _, kind, fraction, message = getter.result()
                    getter = None
                    if kind == "done":
                        break
                    if kind == "started":
                        yield "started", pb.Started(queued_ms=0)
                    else:
                        yield "progress", pb.Progress(fraction=fraction, message=message)
                elif future.done():
                    if future.exception() is not None:
                        raise future.exception()
                    if not done:  # the done marker never came: the worker died after returning
                        break
            output, out_data, run_ms = await future
            yield "result", self._result(output, out_data, run_ms)
        finally:
            if getter is not None:
                getter.cancel()
            if not future.done():
                future.cancel()
            self.listeners.pop(call_id, None)

    # ---- the four RPCs ----

    async def Run(self, request, context):
        try:
            self._check(request.task)
            output, data, run_ms = await self._submit(request.task, plain(request), bytes(request.data), None)
            return pb.RunResponse(result=self._result(output, data, run_ms))
        except Failed as f:
            await context.abort(f.code, f.message)

    async def RunStream(self, request, context):
        try:
            async for kind, payload in self.events(request.task, plain(request), bytes(request.data)):
                yield pb.RunStreamResponse(**{kind: payload})
        except Failed as f:
            await context.abort(f.code, f.message)

    async def RunBatch(self, request_iterator, context):
        out = asyncio.Queue()

        async def item(request):
            try:
                async for kind, payload in self.events(request.task, plain(request), bytes(request.data)):
                    await out.put(pb.RunBatchResponse(id=request.id, **{kind: payload}))
            except Failed as f:
                await out.put(pb.RunBatchResponse(id=request.id, failure=pb.TaskFailure(code=f.code.value[0], message=f.message)))

        async def reader():
            running = []
            async for request in request_iterator:
                running.append(asyncio.ensure_future(item(request)))
            await asyncio.gather(*running)
            await out.put(None)

        feeding = asyncio.ensure_future(reader())
        try:
            while (event := await out.get()) is not None:
                yield event
        finally:
            feeding.cancel()

    async def ListTasks(self, request, context):
        return self.catalogue


def handler(compute):
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Run": grpc.unary_unary_rpc_method_handler(compute.Run, pb.RunRequest.FromString, pb.RunResponse.SerializeToString),
            "RunStream": grpc.unary_stream_rpc_method_handler(compute.RunStream, pb.RunStreamRequest.FromString, pb.RunStreamResponse.SerializeToString),
            "RunBatch": grpc.stream_stream_rpc_method_handler(compute.RunBatch, pb.RunBatchRequest.FromString, pb.RunBatchResponse.SerializeToString),
            "ListTasks": grpc.unary_unary_rpc_method_handler(compute.ListTasks, pb.ListTasksRequest.FromString, pb.ListTasksResponse.SerializeToString),
        },
    )


async def serve(args):
    loop = asyncio.get_running_loop()
    # spawn, not fork: worker processes must not inherit gRPC's threads.
    context = multiprocessing.get_context("spawn")
    progress_queue = context.Queue()
    pool = ProcessPoolExecutor(max_workers=args.workers, mp_context=context, initializer=seed_tasks.init_worker, initargs=(progress_queue,))
    await asyncio.gather(*(asyncio.wrap_future(pool.submit(seed_tasks.warm, 0.2)) for _ in range(args.workers)))
    with open(args.catalog) as f:
        catalogue = json.load(f)
    compute = Compute(loop, pool, progress_queue, catalogue)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
    server.add_generic_rpc_handlers((handler(compute),))
    port = server.add_insecure_port(f"{HOST}:{args.port}")
    await server.start()
    print(json.dumps({"msg": f"python seed listening on {HOST}:{port}", "pid": os.getpid(), "workers": args.workers, "grpcio": grpc.__version__}), flush=True)

    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await server.stop(0.5)
    progress_queue.put(None)
    pool.shutdown(wait=False, cancel_futures=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--catalog", required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
