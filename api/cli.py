"""The `sleuth` command line. Its command names and flags are a contract that scripts use."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from api import (
    cli_allocation,
    cli_ask,
    cli_bench,
    cli_critic,
    cli_eval,
    cli_graph,
    cli_index,
    cli_practice,
    cli_service,
)
from retrieval.errors import SleuthError

log = logging.getLogger("sleuth")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sleuth", description="Multi-hop question answering over your documents.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_index.add_index_commands(commands)
    cli_index.add_search_command(commands)
    cli_graph.add_graph_commands(commands)
    cli_ask.add_ask_command(commands)
    cli_index.add_demo_command(commands)
    cli_bench.add_bench_command(commands)
    cli_eval.add_eval_command(commands)
    cli_practice.add_practice_command(commands)
    cli_critic.add_critic_commands(commands)
    cli_allocation.add_allocation_commands(commands)
    cli_service.add_service_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        status = handler(args)
        sys.stdout.flush()  # inside the try: a reader that went away is a BrokenPipeError here, not at exit
        return status
    except SleuthError as exc:
        print(f"sleuth: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sleuth: interrupted; nothing was changed", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`sleuth index info DIR | head -3`): stop quietly
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as a command the signal ended


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor behind stdout (tests capture it)
        pass
    finally:
        os.close(devnull)


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbosity < 2:
        for noisy in ("sentence_transformers", "transformers", "bm25s", "faiss", "httpx"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
