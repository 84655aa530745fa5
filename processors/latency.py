"""Two client backoffs that set the floor of a request's round trip under exactly-once.

An executor commits a transaction right after each result (docs/functions.md). The next send
begins a new transaction while the broker may still be writing the last one's markers, and the
broker answers CONCURRENT_TRANSACTIONS: aiokafka then waits a fixed 20 ms (`BACKOFF_OVERRIDE`),
and for other retriable answers `retry_backoff_ms` (100 ms), which Faust does not let us set.
Measured (docs/faust-notes.md): with both at a few milliseconds, a round trip's p99 fell from
~100 ms to 8-13 ms.

On the consuming side, aiokafka's fetcher stops fetching from a broker for up to 100 ms
(`prefetch_backoff`, not settable through its consumer) while any partition it reads from that
broker still has records the application has not taken; a request on another partition waits
that long. And it sends no other fetch to a broker while one is in flight, leaving out the
partitions that still hold untaken records: Faust's worker consumer long-polls with
`fetch_max_wait_ms=1500` (hard-coded), so under load (50 callers waiting) a new request on such a
partition waited up to 1.5 s for the long poll of the others to end, and an awaited call took
~1.5 s (docs/http.md, "Measured"). The fetcher's wait is cut to `FETCH_MAX_WAIT_MS`. All of these
are set once per process, before the clients start.

Faust's periodic commit ends the transactions of all assigned partitions one after another (three
round trips each), under the commit barrier that requests wait behind: about 40 ms with a dozen
partitions. `commit_transactions_concurrently` ends them together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiokafka.consumer.fetcher as aiokafka_fetcher
import aiokafka.producer.sender as aiokafka_sender
from faust.transport.drivers import aiokafka as faust_aiokafka

__all__ = ["FETCH_MAX_WAIT_MS", "commit_transactions_concurrently", "shorten_transaction_backoffs"]

FETCH_MAX_WAIT_MS = 20
"""The longest a fetch waits for records at the broker: an idle worker sends ~50 small fetches a
second per broker, which costs little, and no request waits behind a long poll for more than this."""


def shorten_transaction_backoffs(retry_backoff_ms: int) -> None:
    aiokafka_sender.BACKOFF_OVERRIDE = retry_backoff_ms / 1000
    fetcher_init = aiokafka_fetcher.Fetcher.__init__
    if not getattr(fetcher_init, "_iii_short_prefetch_backoff", False):
        def init_with_short_backoff(self: Any, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("prefetch_backoff", retry_backoff_ms / 1000)
            kwargs["fetch_max_wait_ms"] = min(kwargs.get("fetch_max_wait_ms", 500), FETCH_MAX_WAIT_MS)
            fetcher_init(self, *args, **kwargs)

        init_with_short_backoff._iii_short_prefetch_backoff = True
        aiokafka_fetcher.Fetcher.__init__ = init_with_short_backoff
    producer_class = faust_aiokafka.Producer
    if getattr(producer_class, "_iii_retry_backoff_ms", None) is None:
        settings_default = producer_class._settings_default

        def with_retry_backoff(self: Any) -> Any:
            return {**settings_default(self), "retry_backoff_ms": producer_class._iii_retry_backoff_ms}

        producer_class._settings_default = with_retry_backoff
    producer_class._iii_retry_backoff_ms = retry_backoff_ms


def commit_transactions_concurrently() -> None:
    producer_class = faust_aiokafka.Producer
    if getattr(producer_class, "_iii_concurrent_commits", False):
        return
    commit_one_by_one = producer_class.commit_transactions

    async def commit_transactions(self: Any, tid_to_offset_map: Mapping[str, Mapping[Any, int]],
                                  group_id: str, start_new_transaction: bool = True) -> None:
        await asyncio.gather(*(
            commit_one_by_one(self, {tid: offsets}, group_id, start_new_transaction=start_new_transaction)
            for tid, offsets in tid_to_offset_map.items()))

    producer_class.commit_transactions = commit_transactions
    producer_class._iii_concurrent_commits = True
