"""Worker processes for ``DataLoader(num_workers > 0)``.

Like torch's, each worker holds its own copy of the dataset, fetches the samples of the
batches it is given and collates them; the main process hands out index lists and puts
the batches back in order. What differs is how they start, so that a cuPyNumeric main
process never has Legate started in a worker:

- workers are *spawned* (a fresh interpreter, not a fork of a process running Legate)
  with ``TENSORWEAVER_BACKEND=numpy`` in their environment, so the tensorweaver they
  import computes with NumPy;
- everything crossing the process boundary is pickled here, with Tensors reduced to
  host NumPy arrays: the dataset goes out as host data, batches come back as host data
  and become backend Tensors in the main process only.

A worker seeds ``tw.manual_seed``, ``random`` and ``numpy.random`` with
``base_seed + worker_id`` (``base_seed`` is drawn from the loader's generator when the
workers start), so random transforms are reproducible from the main process's seed.
"""
from __future__ import annotations

import io
import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass

from tensorweaver import backend
from tensorweaver.tensor import Tensor, _make_tensor

_host = backend.host_numpy()
#: How long a blocked worker or main process waits before checking that its peer lives.
_POLL_S = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: its ``id`` (0 ..
    ``num_workers - 1``), ``num_workers``, its ``seed`` and its copy of the ``dataset``."""
    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info = None


def get_worker_info():
    """The :class:`WorkerInfo` of this DataLoader worker process; None in the main process.
    A dataset's ``__getitem__`` or a ``worker_init_fn`` uses it to split work by worker."""
    return _worker_info


# ------------------------------------------------------------------ host pickling
def _rebuild_tensor(array, requires_grad):
    """A Tensor on this process's backend from a host array (the unpickling side)."""
    t = _make_tensor(backend.from_host(array), False, None)
    if requires_grad:
        t.requires_grad_(True)
    return t


class _HostPickler(pickle.Pickler):
    """Pickles Tensors as host NumPy arrays, so neither side needs the other's backend."""

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            return _rebuild_tensor, (_host.array(backend.to_host(obj.detach().data)), obj.requires_grad)
        return NotImplemented


def dumps(obj) -> bytes:
    buf = io.BytesIO()
    _HostPickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def loads(data: bytes):
    return pickle.loads(data)


class _RemoteError:
    """An exception raised in a worker, carried to the main process with its traceback."""

    def __init__(self, where: str, exc: BaseException):
        self.exc_type = type(exc)
        self.message = f"Caught {type(exc).__name__} {where}.\nOriginal {traceback.format_exc()}"

    def reraise(self):
        try:
            exc = self.exc_type(self.message)
        except Exception:                     # an exception type that needs other arguments
            exc = RuntimeError(self.message)
        raise exc


# ------------------------------------------------------------------ the worker side
def _seed_everything(seed: int) -> None:
    from tensorweaver import random as tw_random
    tw_random.manual_seed(seed)
    random.seed(seed)
    _host.random.seed(seed % 2 ** 32)


def worker_loop(worker_id, num_workers, payload, base_seed, index_queue, result_queue, parent_pid):
    """Runs in the worker process: set up, then fetch and collate until told to stop."""
    global _worker_info
    seed = base_seed + worker_id
    try:
        dataset, collate_fn, worker_init_fn, auto_batch = loads(payload)
        _seed_everything(seed)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except Exception as exc:
        result_queue.put((None, None, dumps(_RemoteError(f"in DataLoader worker process {worker_id} while it "
                                                         "started", exc))))
        return
    while True:
        try:
            task = index_queue.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() != parent_pid:      # the main process died: do not linger
                return
            continue
        if task is None:
            return
        epoch, batch_index, indices = task
        try:
            if auto_batch:
                data = collate_fn([dataset[i] for i in indices])
            else:
                data = dataset[indices]
                data = collate_fn(data) if collate_fn is not None else data
            result = dumps(data)
        except Exception as exc:
            result = dumps(_RemoteError(f"in DataLoader worker process {worker_id}", exc))
        result_queue.put((epoch, batch_index, result))


# ------------------------------------------------------------------ the main side
class WorkerPool:
    """The worker processes of one DataLoader (for one epoch, or for all of them with
    ``persistent_workers``), and the in-order delivery of their batches."""

    def __init__(self, loader, base_seed: int):
        import multiprocessing as mp
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = "spawn"
        if isinstance(ctx, str):
            if ctx != "spawn" and not backend.is_numpy:
                raise ValueError(f"multiprocessing_context={ctx!r} would fork a process running Legate; on the "
                                 "cuPyNumeric backend DataLoader workers must be spawned (leave it None or 'spawn')")
            ctx = mp.get_context(ctx)
        self.timeout = loader.timeout
        self.num_workers = loader.num_workers
        self.prefetch = loader.prefetch_factor * loader.num_workers
        auto_batch = loader.batch_sampler is not None
        try:
            payload = dumps((loader.dataset, loader.collate_fn, loader.worker_init_fn, auto_batch))
        except Exception as exc:
            raise TypeError(
                f"DataLoader(num_workers={loader.num_workers}) sends the dataset, collate_fn and worker_init_fn "
                f"to worker processes by pickling them, and that failed: {exc}. Define them at module level "
                "(not lambdas or functions inside functions) and keep unpicklable objects (open files, "
                "locks, generators) out of the dataset, or use num_workers=0.") from exc
        main = sys.modules.get("__main__")
        if b"__main__" in payload and not getattr(main, "__file__", None):
            raise TypeError(
                f"DataLoader(num_workers={loader.num_workers}): the dataset, collate_fn or worker_init_fn is defined "
                "in an interactive session (a notebook or the REPL), which spawned worker processes cannot import. "
                "Move it into a .py module and import it from there, or use num_workers=0.")
        self.result_queue = ctx.Queue()
        self.index_queues, self.workers = [], []
        previous = os.environ.get(backend.ENV_VAR)
        os.environ[backend.ENV_VAR] = "numpy"          # inherited by the spawned workers only
        try:
            for i in range(self.num_workers):
                iq = ctx.Queue()
                w = ctx.Process(target=worker_loop, daemon=True,
                                args=(i, self.num_workers, payload, base_seed, iq, self.result_queue, os.getpid()))
                w.start()
                self.index_queues.append(iq)
                self.workers.append(w)
        finally:
            if previous is None:
                del os.environ[backend.ENV_VAR]
            else:
                os.environ[backend.ENV_VAR] = previous
        self.epoch = 0
        self.closed = False

    def run(self, tasks):
        """Yield the batches of ``tasks`` (index lists, or single indices) in order."""
        self.epoch += 1
        epoch, tasks = self.epoch, iter(tasks)
        sent = received = 0
        pending, exhausted = {}, False

        def send_one():
            nonlocal sent, exhausted
            try:
                indices = next(tasks)
            except StopIteration:
                exhausted = True
                return
            self.index_queues[sent % self.num_workers].put((epoch, sent, indices))
            sent += 1

        while not exhausted and sent < self.prefetch:
            send_one()
        while received < sent:
            while received not in pending:
                waited = 0.0
                while True:
                    try:
                        got_epoch, index, data = self.result_queue.get(timeout=_POLL_S)
                        break
                    except queue.Empty:
                        waited += _POLL_S
                        dead = [w for w in self.workers if not w.is_alive()]
                        if dead:
                            self.shutdown()
                            raise RuntimeError(
                                f"DataLoader worker (pid(s) {', '.join(str(w.pid) for w in dead)}) exited "
                                "unexpectedly. Workers are spawned and import the main script: if it creates the "
                                "DataLoader at top level, put that code under `if __name__ == '__main__':`. "
                                "Otherwise a worker was killed (out of memory?).") from None
                        if self.timeout and waited >= self.timeout:
                            self.shutdown()
                            raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") from None
                if got_epoch is None:                   # a worker failed to start
                    self.shutdown()
                    loads(data).reraise()
                if got_epoch == epoch:                  # results of an abandoned epoch are dropped
                    pending[index] = data
            data = loads(pending.pop(received))
            received += 1
            if not exhausted:
                send_one()
            if isinstance(data, _RemoteError):
                data.reraise()
            yield data

    def shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        for iq in self.index_queues:
            try:
                iq.put(None)
            except (OSError, ValueError):
                pass
        for w in self.workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
        for q in self.index_queues + [self.result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self):
        try:
            self.shutdown()
        except Exception:
            pass
