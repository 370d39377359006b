"""The service as the API sees it: settings, the worker runtime, the job store and where jobs run.

`ServiceContext.from_settings` is the API's composition: with a broker configured, jobs go to Celery and
their state lives in Redis; without one (the embedded default), jobs run in a thread pool in this
process, behind the same interface.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api.security import KeyRing
from api.settings import Settings
from workers.config import WorkerConfig
from workers.dispatch import CeleryDispatcher, Dispatcher, ThreadDispatcher
from workers.jobs import JobStore
from workers.memory_store import MemoryJobStore
from workers.runtime import WorkerRuntime

log = logging.getLogger(__name__)

RuntimeFactory = Callable[[WorkerConfig], WorkerRuntime]


@dataclass
class ServiceContext:
    settings: Settings
    runtime: WorkerRuntime
    store: JobStore
    dispatcher: Dispatcher
    keys: KeyRing
    warm: threading.Event = field(default_factory=threading.Event)
    warm_error: str | None = None

    @property
    def embedded(self) -> bool:
        return self.settings.worker.embedded

    @classmethod
    def from_settings(cls, settings: Settings, runtime_factory: RuntimeFactory = WorkerRuntime) -> ServiceContext:
        config = settings.worker
        runtime = runtime_factory(config)
        store: JobStore
        dispatcher: Dispatcher
        if config.broker_url is None:
            store = MemoryJobStore()
            dispatcher = ThreadDispatcher(runtime, store, workers=config.local_workers)
        else:
            from workers.app import configure
            from workers.redis_store import RedisJobStore

            store = RedisJobStore(config.broker_url, ttl_s=config.job_ttl_s)
            dispatcher = CeleryDispatcher(configure(config))
        return cls(settings, runtime, store, dispatcher, KeyRing(settings))

    def start(self) -> None:
        """Warm the models in the background (embedded mode; /readyz says when they are loaded)."""
        if not self.embedded or not self.settings.warm_up:
            self.warm.set()
            return
        threading.Thread(target=self._warm_up, name="sleuth-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        try:
            self.runtime.warm_up()
        except Exception as exc:
            log.exception("loading the models failed")
            self.warm_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.warm.set()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        if self.embedded:
            loaded = self.warm.is_set() and self.warm_error is None
            return loaded, {"mode": "embedded", "models_loaded": loaded, "error": self.warm_error}
        broker = self.store.ping()
        workers = self.store.workers() if broker else {}
        loaded = any(info.get("models_loaded") for info in workers.values())
        details = {"mode": "celery", "broker": broker, "workers": len(workers), "models_loaded": loaded}
        return broker and loaded, details

    def close(self) -> None:
        self.dispatcher.close()
