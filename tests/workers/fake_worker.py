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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    queues = args.queues.split(",")
    run_worker(WorkerConfig.from_env(), queues, pool="solo", hostname=args.hostname, runtime_factory=fake_runtime)


if __name__ == "__main__":
    main()
