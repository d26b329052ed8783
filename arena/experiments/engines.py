"""Where the battles of a tournament or a sweep run: local processes, or a Dask distributed cluster.

An :class:`Engine` maps one function over many items and yields each result as its task finishes, so a command
can show results as they come. Every battle is a deterministic function of its item, so the engine changes
where and in which order battles run, never what they give (the callers sort the results).

* ``local`` (:class:`LocalEngine`): ``jobs`` spawned worker processes (1: in this process). No extra dependency.
* ``dask`` (:class:`DaskEngine`): ``--cluster tcp://HOST:8786`` sends the tasks to a running scheduler;
  ``--cluster local:N`` starts a ``LocalCluster`` of N one-thread worker processes on 127.0.0.1 without a
  dashboard. ``distributed`` is imported only here and only then (the optional extra
  ``pip install 'ipv8-arena[cluster]'``); without it the command says so in one line and exits 2.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

__all__ = ["INSTALL_HINT", "DaskEngine", "Engine", "EngineError", "LocalEngine", "make_engine"]

T = TypeVar("T")
R = TypeVar("R")

INSTALL_HINT = "pip install 'ipv8-arena[cluster]'"
#: How long to wait for a remote scheduler before giving up with a one-line error.
CONNECT_TIMEOUT = "10s"


class EngineError(Exception):
    """Bad ``--cluster`` input, a missing extra or an unreachable scheduler (the commands exit 2 with it)."""


class Engine:
    """Runs ``fn`` over items, yielding results as they finish; ``submitted`` counts the tasks it was given."""

    name = "engine"

    def __init__(self) -> None:
        self.submitted = 0

    @property
    def describe(self) -> str:
        return self.name

    def run(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (nothing for the local engine: its pool lives only while ``run`` does)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalEngine(Engine):
    """Today's pool: ``spawn`` processes (nothing inherited), one battle per task; ``jobs`` 1 runs in-process."""

    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        super().__init__()
        self.jobs = max(1, jobs)

    @property
    def describe(self) -> str:
        return f"{self.jobs} local worker(s)"

    def run(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        self.submitted += len(items)
        if self.jobs <= 1:
            for item in items:
                yield fn(item)
            return
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(fn, item) for item in items]):
                yield fut.result()


def _distributed() -> Any:
    """The ``distributed`` module, or a one-line error naming the extra to install."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise EngineError(f"--cluster needs Dask distributed, which is not installed: {INSTALL_HINT}") from None


class DaskEngine(Engine):
    """A ``distributed.Client`` on a scheduler (or on a ``LocalCluster`` it starts); one task per item, results
    as they complete. Tasks are not pure: two identical battles are still two tasks."""

    name = "dask"

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address
        distributed = _distributed()
        self.cluster: Any = None
        workers = _local_workers(address)
        try:
            if workers is not None:
                # loopback only, no dashboard: a test or a laptop opens no port to the network
                self.cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
                    dashboard_address=None, silence_logs=logging.ERROR,
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})  # its HTTP server: loopback, any port
                self.client = distributed.Client(self.cluster)
            else:
                self.client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise EngineError(f"--cluster {address}: cannot reach the Dask scheduler ({exc})") from None

    @property
    def describe(self) -> str:
        try:
            info = self.client.scheduler_info(n_workers=-1)  # newer distributed lists only 5 workers by default
        except TypeError:
            info = self.client.scheduler_info()
        n = len(info.get("workers", {}))
        return f"Dask {self.address} ({n} worker(s) now)"

    def run(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        if not items:
            return
        distributed = _distributed()
        self.submitted += len(items)
        futures = [self.client.submit(fn, item, pure=False) for item in items]
        for fut in distributed.as_completed(futures):
            yield fut.result()

    def close(self) -> None:
        client, self.client = getattr(self, "client", None), None
        if client is not None:
            client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def _local_workers(address: str) -> int | None:
    """``local:N`` -> N (a LocalCluster); a scheduler address -> None; anything else is bad input."""
    if address.startswith("local:"):
        n = address.removeprefix("local:")
        if not n.isdigit() or int(n) < 1:
            raise EngineError(f"--cluster {address}: expected local:N with N >= 1 workers")
        return int(n)
    scheme, sep, rest = address.partition("://")
    if not sep or not scheme or not rest:
        raise EngineError(f"--cluster {address!r}: expected a scheduler address tcp://HOST:8786 or local:N")
    return None


def make_engine(cluster: str | None, jobs: int = 1) -> Engine:
    """``--cluster`` given: a Dask engine (address checked before ``distributed`` is imported); else local."""
    if cluster is None:
        return LocalEngine(jobs)
    _local_workers(cluster)
    return DaskEngine(cluster)
