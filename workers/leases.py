"""Leases on running jobs, so that a job whose worker died without a redelivery ends `failed`, not `running`.

Every Celery task of a job holds the job's lease while it runs: `holding` takes it before anything else
(before the task waits for its process's models) and renews it from a thread. A lease outlives its last
renewal by `WorkerConfig.lease_ttl_s` (the visibility timeout plus `job_lease_s`): the time in which the
broker redelivers the task of a worker that died and another worker starts it (and takes the lease again).
A running job whose lease ran out was lost: the job store fails it as `worker_lost` when it is next read
(`JobStore.get`: the API's job reads and event streams, and the workers' own checks).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator

from workers.jobs import JobStore

log = logging.getLogger(__name__)

_MIN_RENEW_S = 0.5
_MAX_RENEW_S = 10.0


def process_name() -> str:
    """This process as a job's holder: host:pid, the name its `WorkerRuntime` reports too."""
    return f"{socket.gethostname()}:{os.getpid()}"


def renew_interval_s(ttl_s: float) -> float:
    """How often a held lease is renewed: a quarter of its life, between 0.5 s and 10 s."""
    return max(_MIN_RENEW_S, min(_MAX_RENEW_S, ttl_s / 4))


@contextlib.contextmanager
def holding(store: JobStore, job_id: str, ttl_s: float, worker: str | None = None) -> Iterator[None]:
    """Hold the job's lease while the block runs; left to expire afterwards (a build's next task takes it)."""
    holder = worker or process_name()
    store.hold(job_id, holder, ttl_s)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(renew_interval_s(ttl_s)):
            try:
                store.hold(job_id, holder, ttl_s)
            except Exception:
                log.warning("job %s: renewing its lease failed", job_id)

    renewer = threading.Thread(target=renew, name=f"lease-{job_id[:8]}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
