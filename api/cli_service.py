"""`sleuth serve`, `sleuth worker` and `sleuth apikey new`."""

from __future__ import annotations

import argparse
import json
import logging

from workers.config import QUEUES

log = logging.getLogger(__name__)

# How long an idle keep-alive connection stays open: longer than clients keep theirs (httpx 5 s) and than
# proxies' idle timeouts (60 s is common), so that the server is never the side that closes a connection a
# client is just reusing (uvicorn's own 5 s raced httpx's 5 s: a dropped request, ReadError, under load).
KEEP_ALIVE_S = 75


def add_service_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the REST API (embedded jobs unless SLEUTH_BROKER_URL is set)")
    serve.add_argument("--host", default=None, help="listen address (default SLEUTH_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default SLEUTH_PORT or 8000)")
    serve.add_argument("--no-warm-up", action="store_true", help="load the models on first use, not at start-up")
    serve.set_defaults(handler=run_serve)

    worker = commands.add_parser("worker", help="run a Celery worker (needs SLEUTH_BROKER_URL)")
    worker.add_argument(
        "--queues", default="gpu,cpu", help="queues to consume: gpu (LLM, embedding), cpu (BM25, graph, merge)"
    )
    worker.add_argument("--concurrency", type=int, default=1, help="worker processes (each loads its models once)")
    worker.add_argument("--pool", choices=("prefork", "solo", "threads"), default="prefork")
    worker.add_argument("--hostname", default=None, help="Celery node name (default celery@<host>)")
    worker.set_defaults(handler=run_worker)

    apikey = commands.add_parser("apikey", help="make API keys")
    actions = apikey.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="print a new key and the settings entry that stores its hash")
    new.add_argument("--id", required=True, help="the key's id (shows in logs and job owners)")
    new.add_argument(
        "--index",
        action="append",
        default=[],
        metavar="PATTERN[:read|write]",
        help="an index name or glob this key may use (repeatable; default access read)",
    )
    new.add_argument("--admin", action="store_true", help="may build and delete the indexes it may write")
    new.set_defaults(handler=run_apikey_new)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.no_warm_up:
        overrides["warm_up"] = False
    settings = Settings.from_env(**overrides)
    mode = "embedded (jobs run in this process)" if settings.worker.embedded else "Celery workers via Redis"
    print(f"sleuth serve on http://{settings.host}:{settings.port} ({mode}); the web page at /, API docs at /docs")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from retrieval.errors import ConfigError
    from workers.app import run_worker as start
    from workers.config import WorkerConfig

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if not queues or unknown:
        raise ConfigError(f"unknown queue(s) {', '.join(unknown) or '(none)'}: use gpu, cpu or gpu,cpu")
    config = WorkerConfig.from_env()
    if config.broker_url is None:
        raise ConfigError("sleuth worker needs a broker: set SLEUTH_BROKER_URL=redis://host:6379/0")
    start(config, queues, concurrency=args.concurrency, pool=args.pool, hostname=args.hostname)
    return 0


def run_apikey_new(args: argparse.Namespace) -> int:
    from api.security import hash_key, new_key
    from api.settings import ApiKeyConfig
    from retrieval.errors import ConfigError

    indexes: dict[str, str] = {}
    for item in args.index:
        pattern, _, access = item.partition(":")
        indexes[pattern] = access or "read"
    key = new_key()
    try:
        entry = ApiKeyConfig.model_validate(
            {"id": args.id, "sha256": hash_key(key), "indexes": indexes, "admin": args.admin}
        )
    except ValueError as exc:
        raise ConfigError(f"bad key settings: {exc}") from None
    print(f"key (shown once; give it to the client): {key}")
    print("settings entry (add it to the SLEUTH_API_KEYS list):")
    print(json.dumps(entry.model_dump()))
    return 0
