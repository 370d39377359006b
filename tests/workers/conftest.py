from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workers.harness import REDIS_SERVER, redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private Redis for the session (never the one that may run on 6379)."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    with redis_server() as url:
        yield url


@pytest.fixture
def fresh_redis(redis_url: str) -> str:
    """The session's Redis, emptied (it is ours alone)."""
    import redis

    redis.Redis.from_url(redis_url).flushall()
    return redis_url
