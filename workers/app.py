"""The Celery app: late acknowledgement with redelivery, one job per worker process at a time.

Tasks are acknowledged after they finish (`task_acks_late`), and a task whose worker process died is
put back on its queue (`task_reject_on_worker_lost`); a worker killed outright leaves its message
unacknowledged in Redis, and the broker hands it to another worker once the visibility timeout passes.
Tasks are idempotent (see `operations.execute` and `retrieval.sharding`), so running one twice is safe.

Nothing is read from the environment at import: `configure(config)` sets the broker (the `sleuth worker`
command and the API call it), and `celery -A workers.app worker` reads the environment lazily when
Celery first needs its configuration. Each worker process builds its `WorkerRuntime` once and keeps it.

A worker process loads its models in a background thread once it has started, never in its start-up
hook: a prefork pool child that is not up within `worker_proc_alive_timeout` is killed and replaced, and
loading models takes longer than that on a loaded machine, so a replacement child (after the OOM killer
or a native crash took one) would be killed again and again. A task that arrives while the models load
waits for them (`get_runtime`). Each process beats every `HEARTBEAT_S` seconds with `models_loaded`
(false until the load is done); a beat lives `HEARTBEAT_TTL_S` seconds, so /readyz stops counting a dead
worker within that. A pool child whose worker (its parent) died stops beating at its next beat.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from workers.config import WorkerConfig
from workers.jobs import JobStore
from workers.runtime import WorkerRuntime

log = logging.getLogger(__name__)

HEARTBEAT_S = 3  # seconds between a worker process's heartbeats
HEARTBEAT_TTL_S = 10  # a heartbeat's life: /readyz forgets a dead worker within this
PROC_ALIVE_TIMEOUT_S = 30.0  # how long Celery waits for a new pool child to report up (its default: 4 s)

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
        "worker_proc_alive_timeout": PROC_ALIVE_TIMEOUT_S,
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
        self.lock = threading.Lock()
        self.warmed = threading.Event()  # cleared while the models load in the background
        self.warmed.set()

    def after_fork(self) -> None:
        """A pool child: fresh locks and connections (the parent's are not this process's to use)."""
        self.runtime = None
        self.store = None
        self.lock = threading.Lock()
        self.warmed = threading.Event()
        self.warmed.set()


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


def _runtime() -> WorkerRuntime:
    """This process's runtime, built on first use (cheap: its models load later)."""
    with _process.lock:
        if _process.runtime is None:
            _process.runtime = _process.runtime_factory(get_config())
        return _process.runtime


def get_runtime() -> WorkerRuntime:
    """This process's runtime for a task: waits while the models load in the background (then a failed
    load leaves them to load on first use, as before)."""
    runtime = _runtime()
    _process.warmed.wait()
    return runtime


def get_store() -> JobStore:
    with _process.lock:
        if _process.store is None:
            from workers.redis_store import RedisJobStore

            config = get_config()
            if config.broker_url is None:
                raise ValueError("the worker's job store needs SLEUTH_BROKER_URL")
            _process.store = RedisJobStore(config.broker_url, ttl_s=config.job_ttl_s)
        return _process.store


def _start_process(queues: Sequence[str], parent: int | None) -> None:
    """Start this worker process's heartbeat, and load its models in the background (returns at once)."""
    _process.warmed.clear()
    threading.Thread(target=_warm_up, args=(list(queues),), name="sleuth-warm-up", daemon=True).start()
    beat = threading.Thread(target=_beat, args=(list(queues), parent), name="sleuth-heartbeat", daemon=True)
    beat.start()


def _warm_up(queues: list[str]) -> None:
    """Load the models (the LLM only on a gpu worker); tasks wait for this to end, whatever its outcome."""
    try:
        runtime = _runtime()
        runtime.warm_up(llm="gpu" in queues)
    except Exception:
        log.exception("worker process %s could not load its models; they load on first use", os.getpid())
    finally:
        _process.warmed.set()


def _beat(queues: list[str], parent: int | None) -> None:
    """Report this process alive every HEARTBEAT_S seconds; a pool child stops once its parent is gone."""
    runtime = _runtime()
    while parent is None or os.getppid() == parent:
        info = {"models_loaded": runtime.models_loaded, "queues": queues, "node": app.conf.get("sleuth_hostname")}
        try:
            get_store().heartbeat(runtime.name, info, ttl_s=HEARTBEAT_TTL_S)
        except Exception:
            log.warning("worker %s: heartbeat failed", runtime.name)
        time.sleep(HEARTBEAT_S)
    log.warning("worker %s: its parent worker is gone; no more heartbeats", runtime.name)


def _queues_of(sender: Any) -> list[str]:
    try:
        return sorted(q.name for q in sender.app.amqp.queues.consume_from.values())
    except AttributeError:
        return ["cpu", "gpu"]


@worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    """A prefork pool child: returns at once, so the child reports up in time; the models load behind."""
    _process.after_fork()
    _start_process(app.conf.get("sleuth_queues") or ["cpu", "gpu"], parent=os.getppid())


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    if app.conf.get("sleuth_warm_in_main"):
        _start_process(_queues_of(sender) if sender is not None else ["cpu", "gpu"], parent=None)


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
