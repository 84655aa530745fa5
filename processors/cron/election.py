"""Who leads: the member of the cron group `<ns>.cron` that is assigned the one partition of the
topic `<ns>.cron`. Every worker with cron on runs this thread; one of them leads at a time.

Kafka's group protocol gives partition 0 to one member, revokes it before it assigns it again,
and takes it from a member whose session expired (SIGKILL, a hung process). A member that only
*thinks* it still leads (paused past its session, then resumed) cannot write: the new leader's
`init_transactions` on the same transactional id fenced its producer, so its next commit fails,
its term ends, and it joins the group afresh.

Leadership moves on: a clean stop leaves the group at once; a dead leader is noticed within the
group's session timeout (`IIIKAFKA_SESSION_TIMEOUT`), and the next leader catches up on the ticks
missed meanwhile (plan.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from iii_kafka.schemas import AvroCodec
from iii_kafka.topology.cron_topic import cron_group

from ..functions.bindings import Bindings
from ..functions.clock import now_ms
from ..settings import Settings
from .plan import catch_up_ms_for, wait_s
from .round import Term

__all__ = ["CronLeader"]

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (0.5, 1, 2, 5)
HUNG_AFTER_S = 45.0


class CronLeader:
    """The cron thread of one worker: a group member, and while it holds partition 0, the leader."""

    def __init__(self, settings: Settings, codec: AvroCodec, topic: str, bindings: Bindings,
                 worker_id: str) -> None:
        self.settings = settings
        self.codec = codec
        self.topic = topic
        self.bindings = bindings
        self.worker_id = worker_id
        self._catch_up_ms = catch_up_ms_for(settings.session_timeout_s)
        self._stop = threading.Event()
        self._assigned = False
        self._generation = 0  # the live session's number; an abandoned one stops at once
        self._blocked_since: tuple[int, float] | None = None
        self._consumer: Consumer | None = None
        self._thread = self._new_thread()
        self._watchdog = threading.Thread(target=self._watch, name="iii-cron-watchdog", daemon=True)

    @property
    def leading(self) -> bool:
        return self._assigned

    def start(self) -> "CronLeader":
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, args=(self._generation,), name="iii-cron", daemon=True)

    # -- the watchdog: a transactional call that never returns ----------------------------------

    @contextmanager
    def _blocking(self, generation: int) -> Iterator[None]:
        marker = self._blocked_since = (generation, time.monotonic())
        try:
            yield
        finally:
            if self._blocked_since is marker:
                self._blocked_since = None

    def _watch(self) -> None:
        """As the state owner's (processors/state/owner.py): librdkafka can block in a transactional
        call past its timeout when the coordinator restarts (confluentinc/librdkafka#5456). A call
        blocked past `HUNG_AFTER_S` abandons the session: the consumer leaves the group, and a new
        session thread starts; the stuck one can write nothing (the next leader's init fences it)."""
        while not self._stop.wait(1.0):
            blocked = self._blocked_since
            if blocked is None or blocked[0] != self._generation or \
                    time.monotonic() - blocked[1] < HUNG_AFTER_S:
                continue
            log.error("cron: a transactional call has been blocked for %.0f s; starting a new session",
                      time.monotonic() - blocked[1])
            self._generation += 1
            self._blocked_since = None
            self._assigned = False
            stuck, self._consumer = self._consumer, None
            if stuck is not None:
                try:
                    stuck.close()
                except Exception:  # noqa: BLE001 - it may be half gone already
                    pass
            self._thread = self._new_thread()
            self._thread.start()

    # -- sessions, restarted after errors --------------------------------------------------------

    def _run(self, generation: int) -> None:
        failures = 0
        while not self._stop.is_set() and generation == self._generation:
            started = time.monotonic()
            try:
                self._session(generation)
                return
            except Exception as exc:  # the broker went away, fenced, a transaction failed, ...
                # The session ends and the consumer leaves the group, rather than a new term being
                # begun at once: a fenced member may still believe it holds partition 0 (its
                # group has not told it yet), and a new `init_transactions` would fence the real
                # leader in turn. Rejoining lets the group decide; sticky assignment keeps the
                # real leader where it is.
                if generation != self._generation:
                    return
                if time.monotonic() - started > 60:
                    failures = 0  # it worked for a while: count failures in a row only
                pause = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
                failures += 1
                log.warning("cron: %s; joining again in %.1f s", _describe(exc), pause,
                            exc_info=log.isEnabledFor(logging.DEBUG))
                self._assigned = False
                if self._stop.wait(pause):
                    return

    def _session(self, generation: int) -> None:
        timeout_s = self.settings.session_timeout_s
        consumer = Consumer({
            "bootstrap.servers": self.settings.bootstrap_servers,
            "group.id": cron_group(self.settings.namespace), "enable.auto.commit": False,
            "auto.offset.reset": "latest", "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": int(timeout_s * 1000),
            "heartbeat.interval.ms": int(min(3.0, timeout_s / 3) * 1000),
            "max.poll.interval.ms": 300_000, "fetch.wait.max.ms": 100, "log_level": 4})
        self._consumer = consumer
        term: Term | None = None
        try:
            consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                               on_lost=self._on_revoke)
            wait = 0.25
            while not self._stop.is_set() and generation == self._generation:
                for message in consumer.consume(1000, timeout=wait):  # serves the group's callbacks
                    error = message.error()
                    if error is not None and error.code() != KafkaError._PARTITION_EOF and error.fatal():
                        raise KafkaException(error)
                if term is not None and not self._assigned:
                    log.info("cron: %s no longer leads", self.worker_id)
                    term.end()
                    term = None
                if term is None and self._assigned:
                    term = Term(self.settings, self.codec, self.topic, self.worker_id,
                                lambda: self._blocking(generation)).begin()
                if term is None:
                    wait = 0.25
                    continue
                plan = term.round(self.bindings.of_type("cron"), self._catch_up_ms)
                wait = wait_s(plan, now_ms())
        finally:
            if term is not None:
                term.end()
            self._assigned = False
            if generation == self._generation:
                self._consumer = None
            try:
                consumer.close()  # leaves the group: the next leader is assigned at once
            except Exception:  # noqa: BLE001 - closing after a failure
                pass

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if any(tp.partition == 0 for tp in partitions):
            self._assigned = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if any(tp.partition == 0 for tp in partitions):
            self._assigned = False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return f"Kafka: {exc.args[0].str()}"
    return f"{type(exc).__name__}: {exc}"
