"""The commands of one state transaction: what each does, and what the transaction writes.

The owner (owner.py) makes a `Batch` per transaction, hands it each command in log order (`take`),
then lets it produce its records (`produce`) inside the transaction. A command sees the key as
every earlier command left it: this batch's own changes, else the owner's recent committed entries,
else the view.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from iii_kafka.schemas import CodecError, Event
from iii_kafka.state.commands import NEW_KEY, VALUE_TOO_LARGE, Answer, Changed, Entry, entry_of, execute
from iii_kafka.state.keys import StateKeyError, check_name, state_key, state_partition
from iii_kafka.state.view import ViewBatch

from ..dead_letters import dead_letter
from ..functions.clock import now_ms
from .reads import answer_scope_wide
from .triggers import Record

if TYPE_CHECKING:
    from .owner import StateOwner

__all__ = ["Batch", "RecentEntries"]

log = logging.getLogger(__name__)

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


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


class Batch:
    """The commands of one transaction: their outcomes, and the pending view they see."""

    __slots__ = ("owner", "now", "pending", "requests", "changes", "replies", "extra", "offsets",
                 "view_batch", "_last_ts")

    def __init__(self, owner: "StateOwner") -> None:
        self.owner = owner
        self.now = now_ms()
        self.pending: dict[tuple[int, bytes], Entry] = {}  # this batch's changes, by key
        self.requests: dict[tuple[int, str], bytes] = {}  # this batch's request ids
        self.changes: dict[int, list[tuple[bytes, bytes, int]]] = {}
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.extra: list[Record] = []  # (topic, key, value, partition): triggers, stream events, dead letters
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
        caller = command["caller"]
        if caller is not None and not _TOPIC_NAME.fullmatch(caller):
            self._dead_letter(message, f"its caller {caller[:80]!r} is not a topic name", "invalid_caller")
            return
        try:
            if command["function"] in ("list", "list_groups", "digest"):
                if not self._past_deadline(command):
                    self._answer(command, answer_scope_wide(self, partition, command))
            else:
                self._run_keyed(message, partition, command)
        except Exception as error:  # noqa: BLE001 - one command must never stall its partition
            log.exception("state owner: command %s[%d]@%d failed", message.topic(), partition,
                          message.offset())
            self._reply_error(command, "invocation_failed", f"the owner could not run it: {error}")

    def _past_deadline(self, command: Event) -> bool:
        deadline = command["deadline_ms"]
        if deadline is not None and deadline <= self.now:
            self._reply_error(command, "TIMEOUT", "the caller's deadline passed before the command ran")
            return True
        return False

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
        if self._past_deadline(command):  # (after the repeat check: an applied write says so)
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
        invocations = self.owner.triggers.invocations(event, partition)  # first: whatever fails, fails before
        self.pending[(partition, skey)] = changed.entry
        self.changes.setdefault(partition, []).append((skey, data, event["timestamp_ms"]))
        self.view_batch.put(partition, skey, data)
        if command["remember"]:
            self.requests[(partition, command["request_id"])] = data
            self.view_batch.remember_request(partition, command["request_id"], event["timestamp_ms"], data)
        self.view_batch.timestamps[partition] = event["timestamp_ms"]
        self._reply(command, data)
        self.extra.extend(invocations)

    def _reply(self, command: Event, data: bytes) -> None:
        caller = command["caller"]
        if caller:
            self.replies.setdefault(caller, []).append({"key": command["request_id"].encode(), "value": data})

    def _answer(self, command: Event, result: Any) -> None:
        if command["caller"]:
            data = self.owner.codec.encode(Event(
                "iii.kafka.InvocationCompleted", invocation_id=command["request_id"],
                function_id=f"state::{command['function']}", attempt=1, worker_id=self.owner.worker_id,
                completed_at_ms=self.now, result=result))
            limit = self.owner.settings.max_message_bytes
            if len(data) > limit:  # (a scope too big to list in one answer, say)
                self._reply_error(command, VALUE_TOO_LARGE, f"the answer would be {len(data)} bytes, over "
                                  f"the {limit}-byte limit (IIIKAFKA_MAX_MESSAGE_BYTES)")
                return
            self._reply(command, data)

    def _reply_error(self, command: Event, code: str, message: str) -> None:
        if command["caller"]:
            self._reply(command, self.owner.codec.encode(Event(
                "iii.kafka.InvocationFailed", invocation_id=command["request_id"],
                function_id=f"state::{command['function']}", attempt=1, worker_id=self.owner.worker_id,
                retryable=False, failed_at_ms=self.now,
                error={"code": code, "message": message, "stacktrace": None})))

    def _dead_letter(self, message: Message, reason: str, code: str) -> None:
        destination = self.owner.topics.dead_letters.name
        value = message.value()
        limit = self.owner.settings.max_message_bytes // 2
        if value is not None and len(value) > limit:  # the letter must fit where the record did
            reason = f"{reason} (value cut to its first {limit} of {len(value)} bytes)"
            value = value[:limit]
        letter = dead_letter(message.topic(), message.partition(), message.offset(), message.key(),
                             value, message.headers(), reason, code, destination)
        self.extra.append((destination, message.key() or b"", self.owner.codec.encode(letter), None))

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
        for topic, key, value, partition in self.extra:
            if partition is None:
                producer.produce(topic, key=key, value=value)
            else:
                producer.produce(topic, key=key, value=value, partition=partition)

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
