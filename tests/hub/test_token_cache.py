"""Token checks go through HubAuth's cache, bounded: the real service process, its hub a stand-in
that counts the questions it gets (jupyter_tos_guard.bench.hub.IdentityStub)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import aiohttp
import jupyterhub  # noqa: F401  (the hub extra: a missing install must fail, not skip)

from jupyter_tos_guard.bench.hub import IdentityStub, ServiceProcess, free_port
from jupyter_tos_guard.hub.state import BoundedExpiringDict


async def _sync_all(url: str, tokens: list[str]) -> list[int]:
    async with aiohttp.ClientSession() as session:

        async def one(token: str) -> int:
            body = json.dumps({"client_id": uuid.uuid4().hex})
            headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        return list(await asyncio.gather(*(one(t) for t in tokens)))


def test_the_hub_is_asked_once_per_token_per_cache_period(tmp_path: Path) -> None:
    stub = IdentityStub(free_port(), delay=0.3)  # slow enough that concurrent requests overlap the question
    extra = "c.TosGuardHubService.token_cache_size = 5\nc.HubAuth.cache_max_age = 3\n"
    service = ServiceProcess(tmp_path, f"sqlite:///{tmp_path / 'svc.sqlite'}", stub.api_url, free_port(), extra)
    url = service.base + "api/guard/sync"
    try:
        # 40 requests at once with one token, then 40 more: one question to the hub
        assert asyncio.run(_sync_all(url, ["bench-1"] * 40)) == [200] * 40
        assert asyncio.run(_sync_all(url, ["bench-1"] * 40)) == [200] * 40
        assert stub.requests["bench-1"] == 1
        # a token the hub refuses: refused every time, asked once
        assert asyncio.run(_sync_all(url, ["made-up"] * 10)) == [403] * 10
        assert stub.requests["made-up"] == 1
        # five other tokens fill the cache of five: bench-1, the oldest answer, is dropped
        assert asyncio.run(_sync_all(url, [f"bench-{n}" for n in range(2, 7)])) == [200] * 5
        asyncio.run(_sync_all(url, ["bench-6"]))
        assert stub.requests["bench-6"] == 1
        asyncio.run(_sync_all(url, ["bench-1"]))
        assert stub.requests["bench-1"] == 2
        # past cache_max_age the hub is asked again (a revoked token stops working)
        time.sleep(3.5)
        asyncio.run(_sync_all(url, ["bench-6", "bench-6"]))
        assert stub.requests["bench-6"] == 2
    except BaseException:
        print(service.log_tail())
        raise
    finally:
        service.stop()


def test_bounded_cache_drops_the_oldest_and_expires() -> None:
    cache = BoundedExpiringDict(max_age=0.2, max_size=3)
    for key in "abcd":
        cache[key] = key.upper()
    assert len(cache) == 3 and "a" not in cache and cache["d"] == "D"
    cache["b"] = "B2"  # refreshed: now the newest
    cache["e"] = "E"
    assert "c" not in cache and cache["b"] == "B2"
    time.sleep(0.25)
    assert "b" not in cache and cache.get("e") is None


def test_a_cached_answer_is_read_where_hubauth_stores_it() -> None:
    """The fast path of `TokenCheck` reads HubAuth's cache under HubAuth's own key: after one
    question, the answer is there, and a second check answers from it without asking the hub."""
    import hashlib

    from jupyterhub.services.auth import HubAuth

    from jupyter_tos_guard.hub.state import TokenCheck

    stub = IdentityStub(free_port())
    check = TokenCheck(HubAuth(api_url=stub.api_url, api_token="svc", cache_max_age=60), 10)

    async def twice() -> list[object]:
        return [await check.user_for_token("bench-9"), await check.user_for_token("bench-9")]

    first, second = asyncio.run(twice())
    assert first == second and isinstance(first, dict) and first["name"] == "user9"
    assert stub.requests["bench-9"] == 1
    key = "token::" + hashlib.sha256(b"bench-9").hexdigest()
    assert check.hub_auth.cache[key] == first
