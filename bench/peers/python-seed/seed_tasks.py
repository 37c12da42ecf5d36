"""The bundled tasks (echo, spin, primes, sha256) in Python, run inside the
ProcessPoolExecutor's worker processes. Same inputs, outputs and progress
behaviour as workers/tasks/*.ts. Progress goes to the parent over the
multiprocessing queue handed to every worker by `init_worker`."""

import hashlib
import math
import time

_progress = None  # multiprocessing queue of (call_id, kind, fraction, message)


def init_worker(progress_queue):
    global _progress
    _progress = progress_queue


def warm(seconds):
    """Makes the pool start its processes before the server takes calls."""
    time.sleep(seconds)
    return True


def echo(input, data, progress):
    return input, data


def spin(input, data, progress):
    ms = float(input["ms"])
    steps = int(input.get("steps", 10))
    start = time.perf_counter()
    for step in range(1, steps + 1):
        until = start + ms * step / steps / 1000
        while time.perf_counter() < until:  # a real busy loop, as in spin.ts
            pass
        progress(step / steps, f"step {step} of {steps}")
    return {"ms": input["ms"]}, None


SEGMENT = 1 << 18


def primes(input, data, progress):
    limit = int(input["limit"])
    if limit <= 2:
        return {"count": 0}, None
    odd_count = limit // 2  # index j stands for 2j + 1
    root = math.isqrt(limit - 1)
    small = bytearray([1]) * (root + 1)
    base = []
    for i in range(3, root + 1, 2):
        if small[i]:
            base.append(i)
            small[i * i :: 2 * i] = bytes(len(range(i * i, root + 1, 2 * i)))
    nxt = [(p * p - 1) // 2 for p in base]
    count = 1  # the prime 2
    for lo in range(0, odd_count, SEGMENT):
        hi = min(lo + SEGMENT, odd_count)
        seg = bytearray(hi - lo)
        for k, p in enumerate(base):
            j = nxt[k]
            if j < hi:
                seg[j - lo :: p] = b"\x01" * len(range(j - lo, hi - lo, p))
                j += ((hi - j + p - 1) // p) * p
            nxt[k] = j
        if lo == 0:
            seg[0] = 1  # 1 is not prime
        count += seg.count(0)
        progress(hi / odd_count, f"sieved {round(hi / odd_count * 100)}%")
    return {"count": count}, None


CHUNK = 1 << 20


def sha256(input, data, progress):
    h = hashlib.sha256()
    view = memoryview(data)
    for offset in range(0, len(data), CHUNK):
        h.update(view[offset : offset + CHUNK])
        progress(min(1.0, (offset + CHUNK) / len(data)))
    return {"hex": h.hexdigest()}, None


TASKS = {"echo": echo, "spin": spin, "primes": primes, "sha256": sha256}


def run_task(name, input, data, call_id):
    """Runs one task in a worker process. With a call_id, progress (and a
    'started' and a final 'done' marker) go to the parent over the queue."""
    if call_id is None:
        report = lambda fraction, message="": None
    else:
        _progress.put((call_id, "started", 0.0, ""))

        def report(fraction, message=""):
            _progress.put((call_id, "progress", float(fraction), message))

    start = time.perf_counter()
    try:
        output, out_data = TASKS[name](input, data, report)
        return output, out_data, (time.perf_counter() - start) * 1000
    finally:
        if call_id is not None:
            # After every progress item of this call: the parent sends the
            # result only once it has seen this marker, so no progress is lost.
            _progress.put((call_id, "done", 1.0, ""))
