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
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from iii_kafka.schemas import AvroCodec, CodecError, Event
from iii_kafka.state.commands import NEW_KEY, Answer, Changed, Entry, entry_of, execute
from iii_kafka.state.keys import StateKeyError, check_name, state_key, state_partition
from iii_kafka.state.view import StateView, ViewBatch
from iii_kafka.topology.state import StateTopics, state_group

from ..dead_letters import dead_letter
from ..functions.clock import now_ms
from ..settings import Settings
from .catchup import CatchUp
from .reads import answer_scope_wide
from .triggers import StateTriggers

__all__ = ["StateOwner"]

log = logging.getLogger(__name__)

MAX_BATCH = 5_000
RECENT_KEYS = 20_000
TRANSACTION_TIMEOUT_MS = 10_000
PRUNE_EVERY_S = 30.0
RESTART_BACKOFF_S = (0.5, 1, 2, 5)


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
        self.ready = threading.Event()  # the first assignment is caught up
        self._owned: set[int] = set()
        self.recent = RecentEntries(RECENT_KEYS)  # committed entries of recently used keys
        self._known_topics: dict[str, tuple[bool, float]] = {}
        self._catch_up = CatchUp(settings.bootstrap_servers, topics.changes.name, view, codec.decode,
                                 open_transaction_wait_s=TRANSACTION_TIMEOUT_MS / 1000 + 5)
        self._thread = threading.Thread(target=self._run, name="iii-state-owner", daemon=True)
        self._consumer: Consumer | None = None
        self.partitions = topics.requests.partitions

    def start(self) -> "StateOwner":
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    # -- the loop, restarted after errors ------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._session()
                return
            except _Stopped:
                return
            except Exception as exc:  # the broker went away, a transaction failed, ...
                pause = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
                failures += 1
                log.warning("state owner: %s; starting again in %.1f s (uncommitted work is redone "
                            "from the log)", _describe(exc), pause, exc_info=log.isEnabledFor(logging.DEBUG))
                self._owned.clear()
                self.recent.clear()  # it may hold entries of partitions that move now
                if self._stop.wait(pause):
                    return
                if failures > 50:
                    self._on_fatal(exc)
                    return

    def _session(self) -> None:
        servers = self.settings.bootstrap_servers
        producer = Producer({
            "bootstrap.servers": servers, "transactional.id": f"{state_group(self.settings.namespace)}."
            f"{self.owner_id}", "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS, "linger.ms": 2,
            "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
            "message.max.bytes": self.settings.max_message_bytes + 65_536, "log_level": 4})
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
            self._loop(consumer, producer)
        finally:
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

    def _loop(self, consumer: Consumer, producer: Producer) -> None:
        last_prune = time.monotonic()
        while not self._stop.is_set():
            messages = consumer.consume(MAX_BATCH, timeout=0)
            if not messages:
                first = consumer.poll(0.1)  # waits for one, then takes what else is there
                if first is None:
                    if time.monotonic() - last_prune > PRUNE_EVERY_S:
                        self._forget_old_requests()
                        last_prune = time.monotonic()
                    continue
                messages = [first, *consumer.consume(MAX_BATCH - 1, timeout=0)]
            self._process(consumer, producer, messages)

    # -- rebalances ----------------------------------------------------------------------------

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        cutoff = now_ms() - int(self.settings.state_dedup_window_s * 1000)
        self._catch_up.run(consumer, partitions, cutoff)
        self._owned |= {tp.partition for tp in partitions}
        log.info("state owner %s: owns partitions %s", self.worker_id, sorted(self._owned))
        self.ready.set()

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._owned -= {tp.partition for tp in partitions}
        self.recent.clear()

    # -- one batch, one transaction ------------------------------------------------------------

    def _process(self, consumer: Consumer, producer: Producer, messages: list[Message]) -> None:
        work = _Batch(self)
        for message in messages:
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(message.error())
                continue
            work.take(message)
        producer.begin_transaction()
        try:
            work.produce(producer)
            producer.send_offsets_to_transaction(
                [TopicPartition(self.topics.requests.name, p, o) for p, o in work.offsets.items()],
                consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(60)
            producer.poll(0)  # delivery reports: the offsets the view batch records
        except KafkaException:
            try:
                producer.abort_transaction(30)
            except KafkaException:
                pass
            raise  # the session starts again from the committed offsets
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
        if known is not None and now - known[1] < (60.0 if known[0] else 5.0):
            return known[0]
        exists = False
        if self._consumer is not None:
            metadata = self._consumer.list_topics(topic, timeout=5).topics.get(topic)
            exists = metadata is not None and metadata.error is None and bool(metadata.partitions)
        self._known_topics[topic] = (exists, now)
        return exists


class RecentEntries:
    """The decoded entries of the keys changed last (a bounded dict, oldest out first): a hot key
    is not read back from RocksDB and decoded for every command. Holds committed entries only."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int) -> None:
        self._entries: dict[tuple[int, bytes], Entry] = {}
        self._limit = limit

    def get(self, key: tuple[int, bytes]) -> Entry | None:
        return self._entries.get(key)

    def update(self, entries: dict[tuple[int, bytes], Entry]) -> None:
        for key, entry in entries.items():
            self._entries.pop(key, None)
            self._entries[key] = entry
        for _ in range(len(self._entries) - self._limit):
            del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        self._entries.clear()


class _Batch:
    """The commands of one transaction: their outcomes, and the pending view they see."""

    __slots__ = ("owner", "now", "pending", "requests", "changes", "replies", "extra", "offsets",
                 "view_batch", "_last_ts")

    def __init__(self, owner: StateOwner) -> None:
        self.owner = owner
        self.now = now_ms()
        self.pending: dict[tuple[int, bytes], Entry] = {}  # this batch's changes, by key
        self.requests: dict[tuple[int, str], bytes] = {}  # this batch's request ids
        self.changes: dict[int, list[tuple[bytes, bytes, int]]] = {}
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.extra: list[tuple[str, bytes, bytes]] = []  # (topic, key, value): triggers, dead letters
        self.offsets: dict[int, int] = {}
        self.view_batch = ViewBatch()
        self._last_ts = owner._catch_up.last_timestamp

    def take(self, message: Message) -> None:
        partition = message.partition()
        self.offsets[partition] = message.offset() + 1
        if message.value() is None:
            self._dead_letter(message, "an empty message (a tombstone) is not a StateCommand", "empty")
            return
        try:
            command = self.owner.codec.decode(message.value())
        except CodecError as error:
            self._dead_letter(message, error.reason, error.code)
            return
        if getattr(command, "schema", None) != "iii.kafka.StateCommand":
            found = getattr(command, "schema", type(command).__name__)
            self._dead_letter(message, f"not a StateCommand but {found}", "wrong_event_type")
            return
        function = command["function"]
        deadline = command["deadline_ms"]
        if deadline is not None and deadline <= self.now:
            self._reply_error(command, "TIMEOUT", "the caller's deadline passed before the command ran")
        elif function in ("list", "list_groups", "digest"):
            self._answer(command, answer_scope_wide(self, partition, command))
        else:
            self._run_keyed(message, partition, command)

    def _run_keyed(self, message: Message, partition: int, command: Event) -> None:
        skey = message.key() or b""
        request_id = command["request_id"]
        misrouted = self._misrouted(skey, partition, command)
        if misrouted is not None:
            log.error("state owner: refusing %s[%d]@%d: %s", message.topic(), partition, message.offset(),
                      misrouted)
            self._reply_error(command, "misrouted_command", misrouted)
            return
        if command["function"] != "get" and command["remember"]:
            earlier = self.requests.get((partition, request_id)) or \
                self.owner.view.request(partition, request_id)
            if earlier is not None:  # a repeat: answered with the change it made, not applied again
                self._reply(command, earlier)
                return
        outcome = execute(command, self.entry(partition, skey), self._timestamp(partition),
                          self.owner.codec.encode, self.owner.settings.max_message_bytes)
        if isinstance(outcome, Changed):
            self._record(partition, skey, command, outcome)
        elif isinstance(outcome, Answer):
            self._answer(command, outcome.result)
        else:
            self._reply_error(command, outcome.code, outcome.message)

    def _misrouted(self, skey: bytes, partition: int, command: Event) -> str | None:
        """Why this keyed command must not run here: one writer per key holds only if every
        command of a key arrives on the key's own partition, under the key's own bytes."""
        try:
            expected = state_key(check_name("scope", command["scope"]), check_name("key", command["key"]))
        except StateKeyError as error:
            return str(error)
        if skey != expected:
            return f"its message key {skey!r} is not the key of {command['scope']!r}/{command['key']!r}"
        owner = state_partition(skey, self.owner.partitions)
        if owner != partition:
            return f"the key belongs to partition {owner}, not {partition} (see state_partition)"
        return None

    def entry(self, partition: int, skey: bytes) -> Entry:
        """The key as of every command before this one."""
        found = self.pending.get((partition, skey)) or self.owner.recent.get((partition, skey))
        if found is not None:
            return found
        stored = self.owner.view.get(partition, skey)
        return NEW_KEY if stored is None else entry_of(self.owner.codec.decode(stored), stored)

    def _timestamp(self, partition: int) -> int:
        """Never earlier than the partition's last change, so replay can stop at the first change
        after a point in time."""
        last = self._last_ts.get(partition, 0)
        if self.now > last:
            self._last_ts[partition] = self.now
            return self.now
        return last

    def _record(self, partition: int, skey: bytes, command: Event, changed: Changed) -> None:
        event, data = changed.event, changed.data
        self.pending[(partition, skey)] = changed.entry
        self.changes.setdefault(partition, []).append((skey, data, event["timestamp_ms"]))
        self.view_batch.put(partition, skey, data)
        if command["remember"]:
            self.requests[(partition, command["request_id"])] = data
            self.view_batch.remember_request(partition, command["request_id"], event["timestamp_ms"], data)
        self._reply(command, data)
        self.extra.extend(self.owner.triggers.invocations(event))

    def _reply(self, command: Event, data: bytes) -> None:
        caller = command["caller"]
        if caller:
            self.replies.setdefault(caller, []).append({"key": command["request_id"].encode(), "value": data})

    def _answer(self, command: Event, result: Any) -> None:
        if command["caller"]:
            self._reply(command, self.owner.codec.encode(Event(
                "iii.kafka.InvocationCompleted", invocation_id=command["request_id"],
                function_id=f"state::{command['function']}", attempt=1, worker_id=self.owner.worker_id,
                completed_at_ms=self.now, result=result)))

    def _reply_error(self, command: Event, code: str, message: str) -> None:
        if command["caller"]:
            self._reply(command, self.owner.codec.encode(Event(
                "iii.kafka.InvocationFailed", invocation_id=command["request_id"],
                function_id=f"state::{command['function']}", attempt=1, worker_id=self.owner.worker_id,
                retryable=False, failed_at_ms=self.now,
                error={"code": code, "message": message, "stacktrace": None})))

    def _dead_letter(self, message: Message, reason: str, code: str) -> None:
        destination = self.owner.topics.dead_letters.name
        letter = dead_letter(message.topic(), message.partition(), message.offset(), message.key(),
                             message.value(), message.headers(), reason, code, destination)
        self.extra.append((destination, message.key() or b"", self.owner.codec.encode(letter)))

    def produce(self, producer: Producer) -> None:
        changes_topic = self.owner.topics.changes.name
        for partition, records in self.changes.items():
            # one by one: produce_batch cannot set timestamps, and a change's Kafka timestamp is its
            # own (replay to a point in time reads no more than that)
            last = len(records) - 1
            for index, (skey, data, timestamp) in enumerate(records):
                _produce(producer, changes_topic, skey, data, partition, timestamp,
                         self._delivered if index == last else None)  # the last offset covers all
        for caller, records in self.replies.items():
            if self.owner.reply_topic_exists(caller):
                _produce_batch(producer, caller, records, 0)
            else:
                log.info("state owner: caller topic %s is gone; %d answer(s) dropped", caller, len(records))
        for topic, key, value in self.extra:
            producer.produce(topic, key=key, value=value)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        """(Served by the poll after the commit.) How far into `changes` the view now is."""
        if error is None:
            self.view_batch.offsets[message.partition()] = message.offset() + 1


def _produce(producer: Producer, topic: str, key: bytes, value: bytes, partition: int, timestamp: int,
             callback: Callable | None) -> None:
    while True:
        try:
            producer.produce(topic, value, key, partition, on_delivery=callback, timestamp=timestamp)
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            producer.poll(0.05)


def _produce_batch(producer: Producer, topic: str, records: list[dict[str, Any]], partition: int) -> None:
    while records:
        queued = producer.produce_batch(topic, records, partition=partition)
        failed = [r for r in records if "_error" in r]
        if queued == len(records) or not failed:
            return
        if any(r["_error"].code() != KafkaError._QUEUE_FULL for r in failed):
            raise KafkaException(failed[0]["_error"])
        producer.poll(0.05)
        for record in failed:
            del record["_error"]
        records = failed


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return f"Kafka: {exc.args[0].str()}"
    return f"{type(exc).__name__}: {exc}"
