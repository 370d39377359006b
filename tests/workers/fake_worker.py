"""A Celery worker with the fake runtime, for the worker tests: `python -m tests.workers.fake_worker`."""

from __future__ import annotations

import argparse
import logging

from tests.workers.harness import fake_runtime
from workers.app import run_worker
from workers.config import WorkerConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", default="gpu,cpu")
    parser.add_argument("--hostname", default=None)
    parser.add_argument("--pool", default="solo", choices=["solo", "prefork"])
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    queues = args.queues.split(",")
    config = WorkerConfig.from_env()
    run_worker(
        config,
        queues,
        pool=args.pool,
        concurrency=args.concurrency,
        hostname=args.hostname,
        runtime_factory=fake_runtime,
    )


if __name__ == "__main__":
    main()
