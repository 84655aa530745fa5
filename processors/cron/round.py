"""One leadership term: a fenced transactional producer, the progress, and the firing rounds.

A term starts with `init_transactions` on the namespace's one cron transactional id: that fences
every earlier leader (a deposed or paused one can write no more ticks) and finishes what it left
open; only then is the progress read. Each round writes, in **one transaction**, every due tick's
`InvocationRequested` (to the host app's invocations topic, keyed by the tick's invocation id) and
each trigger's new progress record. The in-memory progress is advanced only after a commit; any
failure ends the term, and the next one reads the progress from the log again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from confluent_kafka import Producer
from iii_kafka.schemas import AvroCodec
from iii_kafka.topology.cron_topic import cron_transactional_id

from ..functions.bindings import Binding
from ..functions.clock import now_ms
from ..settings import Settings
from .plan import CATCH_UP_MS, Plan, cron_invocation_id, plan_round, rfc3339, tick_payload
from .progress import progress_record, read_progress

__all__ = ["FORGET_AFTER_MS", "Term"]

log = logging.getLogger(__name__)

TRANSACTION_TIMEOUT_MS = 10_000
FORGET_AFTER_MS = 60 * 60 * 1000
"""A trigger absent from the catalog (no live host) this long in one term has its progress
tombstoned: configs that changed (a new trigger id) do not pile up in the topic. It loses nothing
the catch-up bound would not skip anyway."""

Blocking = Callable[[], AbstractContextManager[None]]


class Term:
    def __init__(self, settings: Settings, codec: AvroCodec, topic: str, leader_id: str,
                 blocking: Blocking) -> None:
        self.settings = settings
        self.codec = codec
        self.topic = topic
        self.leader_id = leader_id
        self._blocking = blocking
        self.progress: dict[str, int] = {}
        self._absent_since: dict[str, int] = {}
        self.producer: Producer | None = None

    def begin(self) -> "Term":
        started = time.monotonic()
        self.producer = Producer({
            "bootstrap.servers": self.settings.bootstrap_servers,
            "transactional.id": cron_transactional_id(self.settings.namespace),
            "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS, "linger.ms": 1, "log_level": 4,
            "message.max.bytes": self.settings.max_message_bytes + 65_536})
        with self._blocking():
            self.producer.init_transactions(60)  # fences the previous leader, aborts its open transaction
        self.progress = read_progress(self.settings.bootstrap_servers, self.topic, self.codec)
        log.info("cron: %s leads (progress of %d trigger(s) read in %.0f ms)", self.leader_id,
                 len(self.progress), (time.monotonic() - started) * 1000)
        return self

    def end(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            producer.flush(1)

    def round(self, bindings: list[Binding], catch_up_ms: int = CATCH_UP_MS) -> Plan:
        """Fires what is due now; returns the plan (its `next_due_ms` says when to come back)."""
        now = now_ms()
        plan = plan_round(bindings, self.progress, now, catch_up_ms)
        forget = self._forgotten({b.id for b in bindings}, now)
        if not plan.firings and not forget:
            return plan
        producer = self.producer
        assert producer is not None, "round outside a term"
        producer.begin_transaction()
        try:
            for firing in plan.firings:
                binding = firing.binding
                for tick in firing.ticks:
                    invocation_id = cron_invocation_id(binding.id, tick)
                    request = binding.request(invocation_id, tick_payload(binding.id, tick, now))
                    producer.produce(binding.invocation_topic, key=invocation_id.encode(),
                                     value=self.codec.encode(request))
                producer.produce(self.topic, key=binding.id.encode(),
                                 value=self.codec.encode(progress_record(firing, self.leader_id)))
            for trigger_id in forget:
                producer.produce(self.topic, key=trigger_id.encode(), value=None)
            with self._blocking():
                producer.commit_transaction(30)
        except BaseException:
            try:
                with self._blocking():
                    producer.abort_transaction(10)
            except Exception:  # noqa: BLE001 - fenced or gone: the term ends either way
                pass
            raise
        for firing in plan.firings:
            self.progress[firing.binding.id] = firing.last_tick_ms
            if firing.skipped_until_ms is not None:
                log.warning("cron: %s (%s): ticks up to %s skipped, more than %d s late (the catch-up "
                            "bound)", firing.binding.id, firing.binding.function_id,
                            rfc3339(firing.skipped_until_ms), catch_up_ms // 1000)
        for trigger_id in forget:
            self.progress.pop(trigger_id, None)
            self._absent_since.pop(trigger_id, None)
            log.info("cron: forgot the progress of %s (no live host for %d min)", trigger_id,
                     FORGET_AFTER_MS // 60_000)
        return plan

    def _forgotten(self, present: set[str], now: int) -> list[str]:
        for trigger_id in present:
            self._absent_since.pop(trigger_id, None)
        forget = []
        for trigger_id in self.progress.keys() - present:
            since = self._absent_since.setdefault(trigger_id, now)
            if now - since >= FORGET_AFTER_MS:
                forget.append(trigger_id)
        return forget
