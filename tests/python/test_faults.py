"""The admin fault API, observed through the official SDK."""

from __future__ import annotations

import time

from conftest import unique


def _timed_get(client, name):
    t0 = time.perf_counter()
    value = client.get_secret(name).value
    return value, time.perf_counter() - t0


def test_latency_fault_slows_get_and_delete_restores(emulator, secret_client):
    name = unique("latency")
    secret_client.set_secret(name, "slow")
    _, baseline = _timed_get(secret_client, name)  # token is cached from here on
    assert baseline < 0.3, f"baseline get took {baseline:.3f}s"

    emulator.add_fault(route="secrets.get", latency_ms=300)
    value, slow = _timed_get(secret_client, name)
    assert value == "slow"
    assert slow >= 0.3, f"get took {slow:.3f}s with a 300 ms latency fault"

    emulator.clear_faults()
    value, restored = _timed_get(secret_client, name)
    assert value == "slow"
    assert restored < 0.3, f"get took {restored:.3f}s after DELETE /faults"


def test_429_with_retry_after_is_retried_transparently(emulator, secret_client):
    name = unique("throttle")
    secret_client.set_secret(name, "eventually")
    secret_client.get_secret(name)  # warm: challenge + token done

    emulator.clear_requests()
    emulator.add_fault(route="secrets.get", status=429, retry_after=1, count=1)
    value, elapsed = _timed_get(secret_client, name)
    assert value == "eventually"
    assert elapsed >= 0.95, f"SDK did not wait for Retry-After: 1 ({elapsed:.3f}s)"

    gets = [r for r in emulator.requests() if r["method"] == "GET" and f"/secrets/{name}" in r["path_and_query"]]
    assert [r["status"] for r in gets] == [429, 200], gets

    # count=1: the fault is used up.
    value, elapsed = _timed_get(secret_client, name)
    assert value == "eventually" and elapsed < 0.9
