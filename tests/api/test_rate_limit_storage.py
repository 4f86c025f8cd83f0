"""The worker-memory rate-limit storage counts fixed windows like limits' own memory storage, without
a timer thread: expiry happens when a counter is next looked at, and a sweep drops the dead ones."""
from __future__ import annotations

import threading

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from api import limits as api_limits


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def storage_at(clock, monkeypatch):
    monkeypatch.setattr(api_limits.time, "time", clock)
    return storage_from_string("worker-memory://")


def test_the_scheme_is_registered_and_starts_no_thread(monkeypatch):
    before = threading.active_count()
    storage = storage_at(Clock(), monkeypatch)
    assert isinstance(storage, api_limits.WorkerMemoryStorage)
    for n in range(200):
        storage.incr(f"k{n % 7}", 60)
    assert threading.active_count() == before


def test_a_fixed_window_allows_the_limit_then_refuses_until_it_expires(monkeypatch):
    clock = Clock()
    limiter = FixedWindowRateLimiter(storage_at(clock, monkeypatch))
    three_a_minute = parse("3/minute")
    assert [limiter.hit(three_a_minute, "ada") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(three_a_minute, "bob")  # other keys count on their own
    stats = limiter.get_window_stats(three_a_minute, "ada")
    assert stats.remaining == 0 and stats.reset_time == clock.now + 60
    clock.now += 59.9
    assert not limiter.hit(three_a_minute, "ada")
    clock.now += 0.2
    assert limiter.test(three_a_minute, "ada")
    assert limiter.get_window_stats(three_a_minute, "ada").remaining == 3
    assert limiter.hit(three_a_minute, "ada")


def test_expired_counters_are_swept(monkeypatch):
    clock = Clock()
    storage = storage_at(clock, monkeypatch)
    for n in range(100):
        storage.incr(f"short{n}", 1)
    storage.incr("long", 3600)
    clock.now += api_limits.WorkerMemoryStorage.SWEEP_EVERY + 1
    storage.incr("new", 60)
    assert sorted(storage._counters) == ["long", "new"]
    assert storage.get("long") == 1 and storage.get("short0") == 0


def test_clear_and_reset(monkeypatch):
    storage = storage_at(Clock(), monkeypatch)
    storage.incr("a", 60, amount=2)
    storage.incr("b", 60)
    storage.clear("a")
    assert storage.get("a") == 0 and storage.get("b") == 1
    assert storage.reset() == 1 and storage.get("b") == 0
    assert storage.check()


def test_counts_are_exact_under_concurrent_hits(monkeypatch):
    storage = storage_from_string("worker-memory://")

    def hit_many():
        for _ in range(2000):
            storage.incr("shared", 60)

    threads = [threading.Thread(target=hit_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert storage.get("shared") == 16000
