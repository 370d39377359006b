"""The Celery app: late acknowledgement with redelivery, one job per worker process at a time.

Tasks are acknowledged after they finish (`task_acks_late`), and a task whose worker process died is
put back on its queue (`task_reject_on_worker_lost`); a worker killed outright leaves its message
unacknowledged in Redis, and the broker hands it to another worker once the visibility timeout passes.
Tasks are idempotent (see `operations.execute` and `retrieval.sharding`), so running one twice is safe.

Nothing is read from the environment at import: `configure(config)` sets the broker (the `sleuth worker`
command and the API call it), and `celery -A workers.app worker` reads the environment lazily when
Celery first needs its configuration. Each worker process builds its `WorkerRuntime` once and keeps it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from workers.config import WorkerConfig
from workers.jobs import JobStore
from workers.runtime import WorkerRuntime

log = logging.getLogger(__name__)

HEARTBEAT_S = 10

app = Celery("sleuth", include=["workers.tasks"], set_as_current=False)


def _static_settings() -> dict[str, Any]:
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": "cpu",
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "result_expires": 24 * 3600,
        "worker_send_task_events": False,
    }


def _broker_settings(config: WorkerConfig) -> dict[str, Any]:
    transport = {"visibility_timeout": config.visibility_timeout_s}
    return {
        "broker_url": config.broker_url,
        "result_backend": config.broker_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
    }


def _settings_from_env() -> dict[str, Any]:
    config = _process.config or WorkerConfig.from_env()
    _process.config = config
    return {**_static_settings(), **(_broker_settings(config) if config.broker_url else {})}


app.add_defaults(_settings_from_env)  # a promise: evaluated when the configuration is first needed


class _ProcessState:
    """What this process holds: its settings, its runtime (models) and its job store."""

    def __init__(self) -> None:
        self.config: WorkerConfig | None = None
        self.runtime_factory: Callable[[WorkerConfig], WorkerRuntime] = WorkerRuntime
        self.runtime: WorkerRuntime | None = None
        self.store: JobStore | None = None
        self.warm_in_main = False
        self.lock = threading.Lock()


_process = _ProcessState()


def configure(config: WorkerConfig, runtime_factory: Callable[[WorkerConfig], WorkerRuntime] | None = None) -> Celery:
    if config.broker_url is None:
        raise ValueError("Celery needs a broker: set SLEUTH_BROKER_URL (redis://...)")
    _process.config = config
    if runtime_factory is not None:
        _process.runtime_factory = runtime_factory
    app.conf.update(**_static_settings(), **_broker_settings(config))
    return app


def get_config() -> WorkerConfig:
    if _process.config is None:
        _process.config = WorkerConfig.from_env()
    return _process.config


def get_runtime() -> WorkerRuntime:
    with _process.lock:
        if _process.runtime is None:
            _process.runtime = _process.runtime_factory(get_config())
        return _process.runtime


def get_store() -> JobStore:
    with _process.lock:
        if _process.store is None:
            from workers.redis_store import RedisJobStore

            config = get_config()
            if config.broker_url is None:
                raise ValueError("the worker's job store needs SLEUTH_BROKER_URL")
            _process.store = RedisJobStore(config.broker_url, ttl_s=config.job_ttl_s)
        return _process.store


def _warm_and_beat(queues: Sequence[str]) -> None:
    runtime = get_runtime()
    try:
        runtime.warm_up(llm="gpu" in queues)
    except Exception:
        log.exception("worker %s could not load its models; they load on first use", runtime.name)

    def beat() -> None:
        while True:
            info = {
                "models_loaded": runtime.models_loaded,
                "queues": list(queues),
                "node": app.conf.get("sleuth_hostname"),
            }
            try:
                get_store().heartbeat(runtime.name, info, ttl_s=3 * HEARTBEAT_S)
            except Exception:
                log.warning("worker %s: heartbeat failed", runtime.name)
            threading.Event().wait(HEARTBEAT_S)

    threading.Thread(target=beat, name="sleuth-heartbeat", daemon=True).start()


def _queues_of(sender: Any) -> list[str]:
    try:
        return sorted(q.name for q in sender.app.amqp.queues.consume_from.values())
    except AttributeError:
        return ["cpu", "gpu"]


@worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    _warm_and_beat(app.conf.get("sleuth_queues") or ["cpu", "gpu"])


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    if app.conf.get("sleuth_warm_in_main"):
        _warm_and_beat(_queues_of(sender) if sender is not None else ["cpu", "gpu"])


def run_worker(
    config: WorkerConfig,
    queues: Sequence[str],
    *,
    concurrency: int = 1,
    pool: str = "prefork",
    hostname: str | None = None,
    loglevel: str = "INFO",
    runtime_factory: Callable[[WorkerConfig], WorkerRuntime] | None = None,
) -> None:
    """Start a worker consuming `queues` (blocks). Models load once per worker process."""
    configure(config, runtime_factory)
    if pool == "prefork" and concurrency > 1:  # each process loads its own model: share the CPUs out
        from reasoning.llm.llama_cpp_backend import THREADS_ENV, usable_cpus

        os.environ.setdefault(THREADS_ENV, str(max(1, usable_cpus() // concurrency)))
    app.conf.update(
        sleuth_warm_in_main=pool in ("solo", "threads"), sleuth_queues=list(queues), sleuth_hostname=hostname
    )
    argv = ["worker", f"--queues={','.join(queues)}", f"--concurrency={concurrency}", f"--pool={pool}"]
    argv += [f"--loglevel={loglevel}", "--without-gossip", "--without-mingle"]
    if hostname:
        argv += ["--hostname", hostname]
    app.worker_main(argv)
