"""Where batch work runs: in this process (the default) or fanned out over a Ray cluster.

``WITNESSBOX_EXECUTOR=local|ray`` picks the executor (``RAY_ADDRESS`` as Ray defines it). A
batch is a pure function applied to many inputs, one file or video per task; each worker
builds its expensive state once (``setup``: e.g. a redactor holding one ONNX session) and keeps
it for every task it runs. Results come back in input order to the caller, which alone writes
the custody log and the catalog: workers never touch either, so the log stays one ordered chain
and a Ray run gives the same results as a local one.

Network hygiene of the Ray executor (docs/scale-out.md): usage statistics are off and their
report URL points at a loopback sink, there is no dashboard, and when no ``RAY_ADDRESS`` is
given the Ray instance it starts binds to 127.0.0.1 only, with a small object store.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from . import config
from .errors import UsageError

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "ray")
# Ray's usage-stats reporter posts here when enabled; the discard port on loopback is a sink
# that can never carry data off the machine, should some Ray version ignore the off switch.
LOOPBACK_SINK = "http://127.0.0.1:9/"
LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024


class Executor(Protocol):
    """Applies ``fn(state, item)`` to every item; ``state = setup()`` once per worker."""

    name: str

    def map(self, fn: Callable[[S, T], R], items: Sequence[T], *, setup: Callable[[], S]) -> list[R]:
        """Results in the order of ``items``; an exception ``fn`` raises is raised here."""
        ...

    def imap(self, fn: Callable[[S, T], R], items: Iterable[T], *, setup: Callable[[], S]) -> Iterator[R]:
        """Like :meth:`map`, each result yielded as soon as it and those before it are done
        (the caller commits one while the workers go on); closing it early stops the workers.
        ``items`` is read lazily, a few items ahead of the workers."""
        ...


class LocalExecutor:
    """Everything in this process, one item after another (the default)."""

    name = "local"

    def map(self, fn: Callable[[S, T], R], items: Sequence[T], *, setup: Callable[[], S]) -> list[R]:
        return list(self.imap(fn, items, setup=setup))

    def imap(self, fn: Callable[[S, T], R], items: Iterable[T], *, setup: Callable[[], S]) -> Iterator[R]:
        state: S | None = None
        for item in items:
            if state is None:
                state = setup()
            yield fn(state, item)


class _Worker:
    """A Ray actor: holds one ``setup()`` state (one ONNX session) for all the tasks it runs."""

    def __init__(self, setup: Callable[[], Any]) -> None:
        self._state = setup()

    def run(self, fn: Callable[[Any, Any], Any], item: Any) -> Any:
        return fn(self._state, item)


def ray_hygiene_env() -> dict[str, str]:
    """Environment for Ray processes that keeps them on this side of the network."""
    return {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
        "RAY_USAGE_STATS_REPORT_URL": LOOPBACK_SINK,
        "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    }


class RayExecutor:
    """One actor per CPU of the Ray cluster at ``address`` (or of a loopback-only local one).

    A task whose actor dies (a killed worker) is retried on the restarted actor, up to
    ``retries`` times; outputs are written atomically by the task itself, so a retried task
    leaves the same result as one that ran once.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, workers: int | None = None, retries: int = 3) -> None:
        for k, v in ray_hygiene_env().items():
            os.environ.setdefault(k, v)
        import ray

        self._ray = ray
        self._retries = retries
        if not ray.is_initialized():
            address = address if address is not None else os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            else:
                # No cluster named: a private one on this machine, reachable from loopback only.
                os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
                ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
                         object_store_memory=LOCAL_OBJECT_STORE_BYTES, configure_logging=False)
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self.workers = max(1, workers if workers is not None else cpus)

    def map(self, fn: Callable[[S, T], R], items: Sequence[T], *, setup: Callable[[], S]) -> list[R]:
        return list(self.imap(fn, items, setup=setup))

    def imap(self, fn: Callable[[S, T], R], items: Iterable[T], *, setup: Callable[[], S]) -> Iterator[R]:
        ray = self._ray
        from ray.util import ActorPool

        it = iter(items)
        # Two items per worker in flight: a worker that finishes finds its next one waiting.
        ahead = list(itertools.islice(it, 2 * self.workers))
        if not ahead:
            return
        actor_cls = ray.remote(num_cpus=1, max_restarts=self._retries, max_task_retries=self._retries)(_Worker)
        actors = [actor_cls.remote(setup) for _ in range(min(self.workers, len(ahead)))]
        try:
            pool = ActorPool(actors)

            def submit(item: T) -> None:
                pool.submit(lambda a, v: a.run.remote(fn, v), item)

            for item in ahead:
                submit(item)
            while pool.has_next():  # type: ignore[no-untyped-call]
                result: R = pool.get_next()
                for item in itertools.islice(it, 1):
                    submit(item)
                yield result
        finally:
            for a in actors:
                ray.kill(a)


def executor_from_env() -> Executor:
    """The executor ``$WITNESSBOX_EXECUTOR`` names (default ``local``).

    Raises:
        UsageError: An unknown executor name (the message lists the valid ones), or ``ray``
            without Ray installed.
    """
    name = config.executor_name()
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("WITNESSBOX_EXECUTOR=ray needs Ray: pip install 'witnessbox[scale]'") from None
        return RayExecutor()
    raise UsageError(f"unknown executor {name!r} in {config.ENV_EXECUTOR}: use one of {', '.join(EXECUTORS)}")
