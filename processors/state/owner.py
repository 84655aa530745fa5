"""The state owner: the single writer of the keys of the state partitions this worker owns.

Each worker process is a member of the namespace's state group (`<ns>.state`) and owns some
partitions of `<ns>.state.requests`. Its owner thread, in a loop:

1. takes the commands that are there (up to `MAX_BATCH`; one at a time when idle);
2. runs them in log order, each against its key's entry as of the commands before it
   (`state/commands.py`); a key is only ever changed here, so versions count up without gaps and
   an increment is never lost;
3. in one Kafka transaction writes each change to `<ns>.state.changes` (same partition), each
   answer to its caller's reply topic, the invocations of the state triggers that match, dead
   letters for commands that are not commands, and the consumed offsets; then commits;
4. only then writes the changes to its RocksDB view, with the offsets that cover them.

A caller is answered only once its change is committed, and the view never holds a change the
log does not. Why confluent-kafka here rather than a Faust agent: docs/decisions.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from iii_kafka.schemas import AvroCodec
from iii_kafka.state.view import StateView
from iii_kafka.topology.state import StateTopics, state_group

from ..functions.clock import now_ms
from ..settings import Settings
from .batch import Batch, RecentEntries
from .catchup import CatchUp
from .triggers import StateTriggers

__all__ = ["StateOwner"]

log = logging.getLogger(__name__)

MAX_BATCH = 5_000
RECENT_KEYS = 20_000
TRANSACTION_TIMEOUT_MS = 10_000
PRUNE_EVERY_S = 30.0
RESTART_BACKOFF_S = (0.5, 1, 2, 5)
HUNG_AFTER_S = 45.0
MAX_FAILURES_IN_A_ROW = 50  # about four minutes of trying without committing anything


class _Stopped(Exception):
    pass


class TopicMismatch(RuntimeError):
    """The state topics cannot work together (a configuration error, not a transient one)."""


class StateOwner:
    def __init__(self, settings: Settings, codec: AvroCodec, topics: StateTopics, view: StateView,
                 owner_id: str, triggers: StateTriggers, worker_id: str,
                 on_fatal: Callable[[BaseException], None]) -> None:
        self.settings = settings
        self.codec = codec
        self.topics = topics
        self.view = view
        self.owner_id = owner_id
        self.worker_id = worker_id
        self.triggers = triggers
        self._on_fatal = on_fatal
        self._stop = threading.Event()
        self._owned: set[int] = set()
        self.recent = RecentEntries(RECENT_KEYS)  # committed entries of recently used keys
        self._known_topics: dict[str, tuple[bool, float]] = {}
        self._committed = False  # a batch committed since the last restart
        self._catch_up = CatchUp(settings.bootstrap_servers, topics.changes.name, view, codec.decode,
                                 open_transaction_wait_s=TRANSACTION_TIMEOUT_MS / 1000 + 5)
        self._consumer: Consumer | None = None
        self.partitions = topics.requests.partitions
        self._generation = 0  # the live session thread's number; an abandoned one stops at once
        self._blocked_since: tuple[int, float] | None = None
        self._view_lock = threading.Lock()
        self._thread = self._new_thread()
        self._watchdog = threading.Thread(target=self._watch, name="iii-state-watchdog", daemon=True)

    def start(self) -> "StateOwner":
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, args=(self._generation,), name="iii-state-owner",
                                daemon=True)

    # -- the watchdog: librdkafka can block past its timeouts ----------------------------------

    @contextmanager
    def _blocking(self, generation: int) -> Iterator[None]:
        """Marks a transactional call the watchdog keeps an eye on."""
        marker = self._blocked_since = (generation, time.monotonic())
        try:
            yield
        finally:
            if self._blocked_since is marker:  # (a stuck call returning late must not clear a new one's)
                self._blocked_since = None

    def _watch(self) -> None:
        """librdkafka's `send_offsets_to_transaction` can block forever, whatever its timeout, when
        the group coordinator restarts mid-call (confluentinc/librdkafka#5456; seen here in a broker
        restart test). A call blocked past `HUNG_AFTER_S` abandons its session: its consumer leaves
        the group, and a new session thread with a new producer of the same transactional id
        (which aborts the stuck transaction) takes over. The stuck thread exits if it ever returns."""
        while not self._stop.wait(1.0):
            blocked = self._blocked_since
            if blocked is None or blocked[0] != self._generation or \
                    time.monotonic() - blocked[1] < HUNG_AFTER_S:
                continue
            log.error("state owner: a transactional call has been blocked for %.0f s (librdkafka ignores "
                      "its timeout when the coordinator restarts: confluentinc/librdkafka#5456); starting "
                      "a new session", time.monotonic() - blocked[1])
            with self._view_lock:
                self._generation += 1
                self._blocked_since = None
                stuck_consumer, self._consumer = self._consumer, None
            if stuck_consumer is not None:
                try:
                    stuck_consumer.close()  # leave the group: the partitions are reassigned
                except Exception:  # noqa: BLE001 - it may be half gone already
                    pass
            self._owned.clear()
            self.recent.clear()
            self._thread = self._new_thread()
            self._thread.start()

    # -- the loop, restarted after errors ------------------------------------------------------

    def _run(self, generation: int) -> None:
        failures = 0
        while not self._stop.is_set() and generation == self._generation:
            try:
                self._session(generation)
                return
            except _Stopped:
                return
            except Exception as exc:  # the broker went away, a transaction failed, ...
                if generation != self._generation:
                    return  # abandoned by the watchdog; a new session runs
                if self._committed:  # it was working: count failures in a row only
                    failures, self._committed = 0, False
                pause = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
                failures += 1
                log.warning("state owner: %s; starting again in %.1f s (uncommitted work is redone "
                            "from the log)", _describe(exc), pause, exc_info=log.isEnabledFor(logging.DEBUG))
                self._owned.clear()
                self.recent.clear()  # it may hold entries of partitions that move now
                self._known_topics.clear()  # a caller's topic may be the reason
                if self._stop.wait(pause):
                    return
                if failures > MAX_FAILURES_IN_A_ROW:
                    self._on_fatal(exc)
                    return

    def _session(self, generation: int) -> None:
        servers = self.settings.bootstrap_servers
        producer = Producer({
            "bootstrap.servers": servers, "transactional.id": f"{state_group(self.settings.namespace)}."
            f"{self.owner_id}", "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS, "linger.ms": 2,
            "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
            "message.max.bytes": self.settings.max_message_bytes + 65_536, "log_level": 4})
        with self._blocking(generation):
            producer.init_transactions(60)  # aborts what a predecessor with this id left open
        consumer = Consumer({
            "bootstrap.servers": servers, "group.id": state_group(self.settings.namespace),
            "enable.auto.commit": False, "isolation.level": "read_committed",
            "auto.offset.reset": "earliest", "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": int(self.settings.session_timeout_s * 1000),
            "heartbeat.interval.ms": int(min(3.0, self.settings.session_timeout_s / 3) * 1000),
            "max.poll.interval.ms": 600_000, "fetch.wait.max.ms": 50, "log_level": 4})
        self._consumer = consumer
        try:
            self.partitions = self._partition_count(consumer)
            consumer.subscribe([self.topics.requests.name], on_assign=self._assigned,
                               on_revoke=self._revoked, on_lost=self._revoked)
            self._loop(consumer, producer, generation)
        finally:
            if generation == self._generation:
                self._consumer = None
            try:
                consumer.close()  # leaves the group: the partitions move at once
            except Exception:  # noqa: BLE001 - closing after a failure
                pass
            producer.flush(5)

    def _partition_count(self, consumer: Consumer) -> int:
        """The requests topic's partitions; the changes topic must have as many (a change goes to
        its command's partition number)."""
        counts = {}
        for spec in (self.topics.requests, self.topics.changes):
            metadata = consumer.list_topics(spec.name, timeout=30).topics.get(spec.name)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise KafkaException(f"topic {spec.name} does not exist (start workers with `iii-kafka "
                                     "worker`, which creates it)")
            counts[spec.name] = len(metadata.partitions)
        if len(set(counts.values())) != 1:
            self._on_fatal(TopicMismatch(f"state topics have different partition counts: {counts}; "
                                         "they must match (IIIKAFKA_STATE_PARTITIONS)"))
            raise _Stopped()
        return counts[self.topics.requests.name]

    def _loop(self, consumer: Consumer, producer: Producer, generation: int) -> None:
        last_prune = time.monotonic()
        while not self._stop.is_set() and generation == self._generation:
            messages = consumer.consume(MAX_BATCH, timeout=0)
            if not messages:
                first = consumer.poll(0.1)  # waits for one, then takes what else is there
                if first is None:
                    if time.monotonic() - last_prune > PRUNE_EVERY_S:
                        self._forget_old_requests()
                        last_prune = time.monotonic()
                    continue
                messages = [first, *consumer.consume(MAX_BATCH - 1, timeout=0)]
            self._process(consumer, producer, messages, generation)

    # -- rebalances ----------------------------------------------------------------------------

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        cutoff = now_ms() - int(self.settings.state_dedup_window_s * 1000)
        self._catch_up.run(consumer, partitions, cutoff)
        self._owned |= {tp.partition for tp in partitions}
        log.info("state owner %s: owns partitions %s", self.worker_id, sorted(self._owned))

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._owned -= {tp.partition for tp in partitions}
        self.recent.clear()

    # -- one batch, one transaction ------------------------------------------------------------

    def _process(self, consumer: Consumer, producer: Producer, messages: list[Message],
                 generation: int) -> None:
        work = Batch(self)
        for message in messages:
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(message.error())
                continue
            work.take(message)
        if not work.offsets:
            return
        producer.begin_transaction()
        try:
            work.produce(producer)
            with self._blocking(generation):
                producer.send_offsets_to_transaction(
                    [TopicPartition(self.topics.requests.name, p, o) for p, o in work.offsets.items()],
                    consumer.consumer_group_metadata(), 30)
                producer.commit_transaction(60)
            producer.poll(0)  # delivery reports: the offsets the view batch records
        except KafkaException:
            try:
                with self._blocking(generation):
                    producer.abort_transaction(30)
            except KafkaException:
                pass
            raise  # the session starts again from the committed offsets
        with self._view_lock:  # an abandoned session's late write must not land over a new one's
            if generation != self._generation:
                return
            self._committed = True
            self.view.write(work.view_batch)
            self.recent.update(work.pending)  # only committed entries: an aborted batch leaves nothing

    def _forget_old_requests(self) -> None:
        cutoff = now_ms() - int(self.settings.state_dedup_window_s * 1000)
        forgotten = self.view.forget_requests_before(cutoff)
        if forgotten:
            log.debug("state owner: forgot %d request id(s) older than the deduplication window", forgotten)

    def reply_topic_exists(self, topic: str) -> bool:
        """Whether a caller's reply topic is there (a reply to a deleted one must not stall the
        transaction on a topic that never comes)."""
        known = self._known_topics.get(topic)
        now = time.monotonic()
        if known is not None and now - known[1] < (10.0 if known[0] else 5.0):
            return known[0]
        exists = False
        if self._consumer is not None:
            try:
                metadata = self._consumer.list_topics(topic, timeout=5).topics.get(topic)
            except Exception as exc:  # noqa: BLE001 - an answer is dropped, never the partition stalled
                log.warning("state owner: cannot look up caller topic %s: %s", topic, exc)
                metadata = None
            exists = metadata is not None and metadata.error is None and bool(metadata.partitions)
        self._known_topics[topic] = (exists, now)
        return exists


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return f"Kafka: {exc.args[0].str()}"
    return f"{type(exc).__name__}: {exc}"
