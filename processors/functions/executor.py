"""The executor: a Faust agent that runs the handlers of the functions a worker app hosts.

For each `InvocationRequested` on `<app>.invocations` (one event at a time, under the commit
barrier) it either answers at once (a completed invocation id, from the `invocation-results`
table; an unknown function; an invalid payload; a deadline already passed), or starts its handler
as a task. An invocation still running when Faust next commits offsets is written to the
`invocations-running` table first, in that same transaction. Handlers run
concurrently, so a handler may await another function of the same app without deadlock.

When a handler finishes, its result (or error) goes to each waiting caller's reply topic, its
`ctx.send` outputs to their topics, the result into `invocation-results` and the invocation out of
`invocations-running`, all in the transaction of the request's partition, committed at once
(docs/functions.md). A worker that dies mid-handler leaves the invocation in `invocations-running`;
whoever owns the partition next runs it again. A completed invocation is never run again.

A rebalance (another worker of the app joins or leaves) revokes every partition first and only then
says which stay. From the revocation to the new assignment no finish, resume or prune writes
anything: what finished before is committed at the revocation, while this worker still owns the
partitions' transactions (the next owner's producer fences them), and handlers keep running;
those of partitions that moved are cancelled once the assignment is known, and run again on
their new owner (docs/faust-notes.md, "Rebalancing").
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT
from iii_kafka.schemas import Event
from iii_kafka.topology.functions import invocation_topic
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..exactly_once import writing_for_partition
from ..processing import EventProcessing
from ..serialization import AVRO_TOLERANT
from ..settings import Settings
from ..transactions import send_bytes_in_transaction, send_in_transaction
from .caller import Caller
from .clock import now_ms
from .context import InvocationContext
from .errors import ErrorCode, InvocationError
from .queues import QueueRunner, Turn
from .registry import FunctionRegistry, RegisteredFunction
from .tracing import context_from_headers, headers_with_context, tracer

__all__ = ["Executor", "forget_local_views"]

log = logging.getLogger(__name__)

RESULTS_TABLE = "invocation-results"
RUNNING_TABLE = "invocations-running"
PRUNE_BATCH = 500
TRACE_HEADERS = ("traceparent", "tracestate", "baggage")


def forget_local_views(tables_dir: Path) -> int:
    """Deletes this worker's local RocksDB copies of the executor's tables; returns how many.

    Faust writes a table's RocksDB at once and its changelog in the transaction: after a SIGKILL the
    local copy can hold writes whose transaction aborted (an outcome never delivered, a running
    record removed), and Faust's recovery only adds to it. Without the local copy the tables are
    rebuilt from their changelogs, read_committed, at start: slower (bounded by the changelogs,
    which compaction and IIIKAFKA_RESULTS_RETENTION keep small) and right.
    """
    stale = [path for table in (RESULTS_TABLE, RUNNING_TABLE)
             for path in tables_dir.glob(f"**/{table}-*.db")]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


class Executor:
    def __init__(self, app: faust.App, settings: Settings, processing: EventProcessing,
                 registry: FunctionRegistry, caller: Caller, worker_id: str,
                 registered: asyncio.Event) -> None:
        self.app = app
        self.settings = settings
        self.processing = processing
        self.registry = registry
        self.caller = caller
        self.worker_id = worker_id
        self._registered = registered  # this worker is in the catalog: ctx.trigger can find it
        spec = invocation_topic(settings.app_id, settings.partitions, settings.replication_factor)
        self.topic_name = spec.name
        self.topic = app.topic(spec.name, key_type=str, key_serializer="raw",
                               value_serializer=AVRO_TOLERANT)
        options = {"driver": "rocksdict"}
        self.results = processing.table(RESULTS_TABLE, partitions=spec.partitions, options=options)
        self.running = processing.table(RUNNING_TABLE, partitions=spec.partitions, options=options)
        self.queues = QueueRunner(self, settings)
        self._tasks: dict[str, tuple[asyncio.Task, int]] = {}  # invocation id -> (task, partition)
        self._dirty: set[TP] = set()
        self._commit_wanted = asyncio.Event()
        self._finishing = asyncio.Lock()  # a finish's writes and a commit of them exclude each other
        self._unrecorded: dict[str, tuple[TP, dict[str, Any]]] = {}  # accepted, not yet in the table
        self._resumed: set[int] = set()  # partitions whose recorded invocations were started here
        self._settled = asyncio.Event()  # clear from a revocation until the next assignment
        self._settled.set()
        processing.boundary.before_commit(self._record_in_flight)
        processing.boundary.before_revocation(self._freeze)

        app.agent(self.topic, name="iii.execute")(self._consume)
        app.timer(1.0, name="iii.resume")(self.resume_running)
        app.timer(min(60.0, settings.results_retention_s / 2), name="iii.prune")(self.prune_results)
        app.task(self._committer)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)

    async def _consume(self, stream: faust.StreamT) -> None:
        await self.processing.run(stream, self.accept)

    # -- accepting a request (under the commit barrier) -----------------------------------------

    async def accept(self, event: EventT) -> None:
        request = event.value
        if getattr(request, "schema", None) != "iii.kafka.InvocationRequested":
            found = getattr(request, "schema", type(request).__name__)
            await self.processing.dead_letters.send(event, f"not an InvocationRequested but {found}",
                                                    "wrong_event_type")
            return
        tp = event.message.tp
        if tp.partition not in self._resumed:
            # Recorded invocations of this partition start first: a FIFO group's older messages
            # keep their turn ahead of the new ones.
            self._resume({tp.partition})
        invocation_id = request["invocation_id"]
        done = self.results.get(invocation_id)
        if done is not None:  # answered from the stored result, never run twice
            log.debug("invocation %s already completed: answering from its stored result", invocation_id)
            await self._reply(tp, request, done, [request["caller"]] if request["caller"] else [])
            self._want_commit(tp)
            return
        running = self._record_of(invocation_id)
        if running is not None:  # a repeat of a running invocation: one more caller to answer
            log.debug("invocation %s is running: one more caller to answer", invocation_id)
            if request["caller"] and request["caller"] not in running["callers"]:
                running = {**running, "callers": [*running["callers"], request["caller"]]}
                self._keep(tp, invocation_id, running)
            self._start(invocation_id, running)
            return
        refusal = self._refusal(request)
        record = {"request": dict(request), "partition": tp.partition, "offset": event.message.offset,
                  "callers": [request["caller"]] if request["caller"] else [],
                  "headers": {k: _text(v) for k, v in _pairs(event.message.headers)
                              if k in TRACE_HEADERS},
                  "not_before_ms": 0}
        if refusal is not None:
            await self._finish(tp, invocation_id, record, {"error": refusal.to_dict()})
            self._want_commit(tp)
            return
        self._unrecorded[invocation_id] = (tp, record)
        self._start(invocation_id, record)

    def _record_of(self, invocation_id: str) -> dict[str, Any] | None:
        """The running invocation's record: in memory until a commit needs it in the table."""
        unrecorded = self._unrecorded.get(invocation_id)
        return unrecorded[1] if unrecorded is not None else self.running.get(invocation_id)

    def _keep(self, tp: TP, invocation_id: str, record: dict[str, Any]) -> None:
        if invocation_id in self._unrecorded:
            self._unrecorded[invocation_id] = (tp, record)
        else:
            with writing_for_partition(tp):
                self.running[invocation_id] = record

    def _record_in_flight(self) -> None:
        """Before Faust commits offsets: the invocations accepted since the last commit and still
        running go into `invocations-running`, in the transaction that commits their offsets.
        Most invocations finish before that and never touch the table."""
        assignment = self.app.consumer.assignment()
        for invocation_id, (tp, record) in list(self._unrecorded.items()):
            if tp in assignment:
                with writing_for_partition(tp):
                    self.running[invocation_id] = record
        self._unrecorded.clear()

    def _refusal(self, request: Event) -> InvocationError | None:
        """Why this request will not run, if it will not."""
        function_id = request["function_id"]
        function = self.registry.get(function_id)
        if function is None:
            return InvocationError(ErrorCode.FUNCTION_NOT_FOUND,
                                   f"worker app {self.settings.app_id} does not host {function_id}")
        deadline = request["deadline_ms"]
        if deadline is not None and deadline <= now_ms():
            return InvocationError(ErrorCode.TIMEOUT, "the caller's deadline passed before the "
                                   "invocation started")
        try:
            function.check_request(request["payload"])
        except InvocationError as error:
            return error
        return None

    # -- running handlers --------------------------------------------------------------------

    def _start(self, invocation_id: str, record: dict[str, Any]) -> None:
        if invocation_id in self._tasks:
            return
        turn = self.queues.take_turn(record)
        task = asyncio.ensure_future(self._run(invocation_id, record, turn))
        self._tasks[invocation_id] = (task, record["partition"])
        task.add_done_callback(lambda _: self._tasks.pop(invocation_id, None))

    async def resume_running(self) -> None:
        """Starts the handlers of recorded invocations this process owns but is not running: after a
        restart, or after a rebalance gave it partitions of a worker that died."""
        if getattr(self.app, "in_recovery", False) or not self._settled.is_set():
            return  # the tables are not all there yet, or the partitions are being reassigned
        assigned = {tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.topic_name}
        if assigned:
            self._resume(assigned)

    def _resume(self, partitions: set[int]) -> None:
        for invocation_id, record in sorted(self.running.items(), key=lambda kv: kv[1]["offset"]):
            if self.results.get(invocation_id) is not None:
                continue  # completed: its running record is a leftover, never run it again
            if invocation_id not in self._tasks and record["partition"] in partitions:
                log.info("resuming invocation %s of %s", invocation_id, record["request"]["function_id"])
                self._start(invocation_id, record)
        self._resumed |= partitions

    async def prune_results(self) -> int:
        """Forgets outcomes older than `IIIKAFKA_RESULTS_RETENTION` (a day): the window in which a
        repeated invocation id is answered from its stored result. Deletes in small batches, each
        a finish-like write (its tombstones commit in their partition's transaction)."""
        if not self._settled.is_set():
            return 0  # the next round prunes them
        cutoff = now_ms() - int(self.settings.results_retention_s * 1000)
        expired = [(invocation_id, stored["partition"]) for invocation_id, stored in self.results.items()
                   if stored.get("finished_at_ms", cutoff) < cutoff and "partition" in stored]
        batch = PRUNE_BATCH  # (Faust's timer passes the app to a method with parameters)
        for start in range(0, len(expired), batch):
            async with self._finishing, self.processing.boundary.processing():
                if not self._settled.is_set():
                    break
                assignment = self.app.consumer.assignment()
                for invocation_id, partition in expired[start:start + batch]:
                    tp = TP(self.topic_name, partition)
                    if tp in assignment and self.results.get(invocation_id) is not None:
                        with writing_for_partition(tp):
                            del self.results[invocation_id]
                        self._want_commit(tp)
        if expired:
            log.info("forgot %d invocation outcome(s) older than %.0f s", len(expired),
                     self.settings.results_retention_s)
        return len(expired)

    async def _run(self, invocation_id: str, record: dict[str, Any], turn: Turn | None) -> None:
        """Runs the invocation (and its retries, if queued) and records the outcome."""
        tp = TP(self.topic_name, record["partition"])
        try:
            if turn is not None:
                await turn.wait()
            while record is not None:
                await self.queues.wait_backoff(record)
                outcome = await self._invoke(invocation_id, record)
                done, retry = await self._settle(tp, invocation_id, record, outcome)
                if not done:
                    return
                if "error" in outcome:
                    log.info("invocation %s of %s (attempt %s) failed: %s", invocation_id,
                             record["request"]["function_id"], record["request"]["attempt"],
                             outcome["error"]["message"])
                record = retry
        finally:
            if turn is not None:
                turn.finish()

    async def _settle(self, tp: TP, invocation_id: str, record: dict[str, Any],
                      outcome: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """Finishes the invocation, or records its next attempt: `(True, next attempt or None)`;
        `(False, None)` when its partition moved on (its new owner runs it again) or it failed."""
        while True:
            await self._settled.wait()  # not into a transaction another worker may own next
            async with self._finishing, self.processing.boundary.processing():
                if not self._settled.is_set():
                    continue  # a revocation committed and froze writes while this waited
                if tp not in self.app.consumer.assignment() or self._record_of(invocation_id) is None:
                    return False, None
                retry = None
                try:
                    if "error" in outcome:
                        retry = await self.queues.retry_later(tp, invocation_id, record, outcome["error"])
                        if retry is not None:
                            self._unrecorded.pop(invocation_id, None)  # recorded with its next attempt
                    if retry is None:
                        await self._finish(tp, invocation_id, record, outcome)
                except Exception as exc:  # part of a finish is in the transaction: it must not commit
                    log.exception("finishing invocation %s failed; the worker stops", invocation_id)
                    await self.app.crash(exc)
                    return False, None
                self._want_commit(tp)
                return True, retry

    async def _invoke(self, invocation_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """Runs the handler once; returns `{"result", "outputs"}` or `{"error"}`."""
        request = record["request"]
        function = self.registry.get(request["function_id"])
        if function is None:  # unregistered since it was accepted
            return {"error": InvocationError(ErrorCode.FUNCTION_NOT_FOUND, f"worker app "
                    f"{self.settings.app_id} no longer hosts {request['function_id']}").to_dict()}
        await self._registered.wait()
        timeout_ms = self._timeout_ms(function, request)
        condition = request.get("condition_function_id")
        try:
            holds = not condition or await self._condition_holds(condition, invocation_id, request,
                                                                 timeout_ms)
        except InvocationError as error:
            return {"error": error.to_dict()}
        if not holds:
            log.debug("invocation %s of %s skipped: its condition %s returned false", invocation_id,
                      function.function_id, condition)
            return {"result": None, "outputs": [], "skipped": True}
        context = InvocationContext(invocation_id, request["function_id"], request["attempt"], self.caller)
        attributes = {"messaging.system": "kafka", "messaging.operation.type": "process",
                      "messaging.destination.name": self.topic_name,
                      "messaging.message.id": invocation_id, "messaging.kafka.destination.partition":
                      record["partition"], "iii.function_id": function.function_id,
                      "iii.attempt": request["attempt"], "iii.worker_id": self.worker_id}
        with tracer().start_as_current_span(f"{function.function_id} process", kind=SpanKind.CONSUMER,
                                            context=context_from_headers(record["headers"]),
                                            attributes=attributes) as span:
            try:
                result = await asyncio.wait_for(_call(function, request["payload"], context),
                                                timeout_ms / 1000)
                function.check_response(result)
                self._check_writable(function.function_id, result, context.outputs)
                return {"result": result, "outputs": context.outputs}
            except asyncio.TimeoutError:
                error = InvocationError(ErrorCode.TIMEOUT, f"{function.function_id} did not finish "
                                        f"within {timeout_ms} ms")
            except InvocationError as exc:
                error = exc if exc.code == ErrorCode.INVALID_RESULT else \
                    InvocationError.from_handler_exception(exc)
            except Exception as exc:
                error = InvocationError.from_handler_exception(exc)
            span.set_status(Status(StatusCode.ERROR, error.message))
            return {"error": error.to_dict()}

    async def _condition_holds(self, condition: str, invocation_id: str, request: Event,
                               timeout_ms: int) -> bool:
        """iii's trigger condition: the handler runs unless the condition returns exactly false. The
        condition is a child invocation with a stable id, so a rerun asks it once."""
        try:
            verdict = await self.caller.trigger(condition, request["payload"], timeout_ms=timeout_ms,
                                                invocation_id=f"{invocation_id}/condition",
                                                parent_invocation_id=invocation_id)
        except InvocationError as exc:
            raise InvocationError(ErrorCode.INVOCATION_FAILED, f"condition {condition} failed: {exc}",
                                  function_id=request["function_id"]) from None
        return verdict is not False

    def _check_writable(self, function_id: str, result: Any, outputs: list) -> None:
        """A result or output that cannot be written (not a Value, or too big for Kafka) fails the
        invocation here, with a clear error, instead of failing its transaction later."""
        limit = self.settings.max_message_bytes
        for output in outputs:
            if not isinstance(output.topic, str) or not output.topic:
                raise InvocationError(ErrorCode.INVALID_RESULT, f"ctx.send needs a topic name, got "
                                      f"{output.topic!r}", function_id=function_id)
            if not isinstance(output.key, (str, bytes)) and output.key is not None:
                raise InvocationError(ErrorCode.INVALID_RESULT, f"ctx.send to {output.topic}: a key must "
                                      f"be str, bytes or None, got {type(output.key).__name__}",
                                      function_id=function_id)
            if output.value is None:
                raise InvocationError(ErrorCode.INVALID_RESULT, f"ctx.send to {output.topic}: the value "
                                      "is None (a tombstone); send a value", function_id=function_id)
        for what, value in [("result", result), *((f"output to {o.topic}", o.value) for o in outputs)]:
            try:
                size = len(self.app.serializers.dumps_value(None, value))
            except Exception as exc:  # the codec names what it cannot write
                raise InvocationError(ErrorCode.INVALID_RESULT, f"{what} cannot be written: {exc}",
                                      function_id=function_id) from None
            if size > limit:
                raise InvocationError(ErrorCode.INVALID_RESULT, f"{what} is {size} bytes, over the "
                                      f"{limit}-byte limit (IIIKAFKA_MAX_MESSAGE_BYTES)",
                                      function_id=function_id)

    @staticmethod
    def _timeout_ms(function: RegisteredFunction, request: Event) -> int:
        deadline = request["deadline_ms"]
        if deadline is None:
            return function.timeout_ms
        return max(1, min(function.timeout_ms, deadline - now_ms()))

    # -- finishing (under the commit barrier) -----------------------------------------------------

    async def _finish(self, tp: TP, invocation_id: str, record: dict[str, Any],
                      outcome: dict[str, Any]) -> None:
        """Replies, outputs, dead letter and tables of a finished invocation (hold the barrier)."""
        request = record["request"]
        record = self._record_of(invocation_id) or record  # callers may have joined since it started
        stored = {"function_id": request["function_id"], "attempt": request["attempt"],
                  "finished_at_ms": now_ms(), "partition": tp.partition,
                  **{k: v for k, v in outcome.items() if k != "outputs"}}
        await self._reply(tp, request, stored, record["callers"])
        for output in outcome.get("outputs", ()):
            await send_in_transaction(self.app, tp, output.topic, output.key, output.value)
        if "error" in outcome and request["action"] == "enqueue":
            await self.queues.dead_letter(tp, record, outcome["error"])
        await self._store_outcome(tp, invocation_id, stored)
        if self._unrecorded.pop(invocation_id, None) is None and self.running.get(invocation_id) is not None:
            with writing_for_partition(tp):
                del self.running[invocation_id]

    async def _store_outcome(self, tp: TP, invocation_id: str, stored: dict[str, Any]) -> None:
        """`results[invocation_id] = stored`, with its changelog record handed straight to the
        partition's transaction. Faust's own path queues it in its producer buffer, which sends one
        message at a time and which every commit then has to wait for: under load that was most of
        a commit's time (docs/functions.md, "Measured")."""
        if not self.app.in_transaction:
            with writing_for_partition(tp):
                self.results[invocation_id] = stored
            return
        store = self.results.data
        with writing_for_partition(tp):
            store[invocation_id] = stored  # the RocksDB view; the changelog record follows
        changelog = self.results.changelog_topic.get_topic_name()
        delivery = await send_bytes_in_transaction(
            self.app, tp, changelog, store._encode_key(invocation_id), store._encode_value(stored),
            partition=tp.partition)
        delivery.add_done_callback(partial(self._persist_offset_on_commit, store))

    def _persist_offset_on_commit(self, store: Any, delivery: asyncio.Future) -> None:
        """What Faust does for its own changelog writes under exactly-once: the view records the
        changelog offset it holds once the offsets commit, so recovery starts from there."""
        if not delivery.cancelled() and delivery.exception() is None:
            metadata = delivery.result()
            self.app.tables.persist_offset_on_commit(store, metadata.topic_partition, metadata.offset)

    async def _reply(self, tp: TP, request: Event, stored: dict[str, Any], callers: list[str]) -> None:
        if not callers or request["action"] != "none":
            return
        common = {"invocation_id": request["invocation_id"], "function_id": request["function_id"],
                  "attempt": stored["attempt"], "worker_id": self.worker_id}
        if "error" in stored:
            reply = Event("iii.kafka.InvocationFailed", **common, retryable=False,
                          failed_at_ms=stored["finished_at_ms"], error=stored["error"])
        else:
            reply = Event("iii.kafka.InvocationCompleted", **common,
                          completed_at_ms=stored["finished_at_ms"], result=stored["result"])
        for caller in callers:
            await send_in_transaction(self.app, tp, caller, request["invocation_id"], reply,
                                      headers_with_context())

    # -- committing ------------------------------------------------------------------------------

    def _want_commit(self, tp: TP) -> None:
        self._dirty.add(tp)
        self._commit_wanted.set()

    async def _committer(self) -> None:
        """Commits the partitions with finished work: at once when idle; under load, each commit
        takes everything that finished while the previous one ran (group commit)."""
        try:
            await self._commit_forever()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a transaction in an unknown state: start again from the log
            log.exception("committing finished invocations failed; the worker stops")
            await self.app.crash(exc)

    async def _commit_forever(self) -> None:
        while True:
            await self._commit_wanted.wait()
            await self._settled.wait()
            self._commit_wanted.clear()
            # Not under the commit barrier: requests keep being accepted while a transaction
            # commits (their writes wait for it, and go into the next one). Only a finish, whose
            # writes must all land in one transaction, is kept out.
            async with self._finishing:
                if not self._settled.is_set():  # the revocation committed them
                    self._commit_wanted.set()
                    continue
                dirty, self._dirty = self._dirty, set()
                assignment = self.app.consumer.assignment()
                await asyncio.gather(*(self.processing.boundary.commit_writes(tp)
                                       for tp in dirty if tp in assignment))

    async def stop(self) -> None:
        """Cancels running handlers: their invocations stay recorded, and run again on restart."""
        tasks = [task for task, _ in self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _freeze(self) -> None:
        """Every partition is revoked before a new assignment (Faust's eager rebalancing), and the
        next owner of one that moves fences this worker's producer for it as it starts; the
        revocation also ends the transactions that commit offsets (exactly_once.py). So at its
        start the finished invocations' writes are committed, while this worker still owns their
        transactions, and nothing is written again until the assignment (`_settled`); a finish in
        progress completes first, and goes into that commit."""
        if not self._settled.is_set():
            return
        async with self._finishing:
            dirty, self._dirty = self._dirty, set()
            assignment = self.app.consumer.assignment()  # still the one being revoked
            try:
                await asyncio.gather(*(self.processing.boundary.commit_writes(tp)
                                       for tp in dirty if tp in assignment))
            except Exception:
                log.exception("committing finished invocations at a revocation failed; the worker stops")
                raise  # Faust crashes the app
            self._settled.clear()
        log.info("partitions revoked: finished invocations committed, %d handler(s) still running",
                 len(self._tasks))

    async def _on_revoked(self, sender: Any, revoked: Any = None, **kwargs: Any) -> None:
        await self._freeze()  # (done already, unless nothing was assigned)

    async def _on_assigned(self, sender: Any, assigned: Any = None, **kwargs: Any) -> None:
        """Handlers of partitions that moved are cancelled (their new owner runs them again); those
        of partitions that stayed finish here, into the transactions kept for them."""
        kept = {tp.partition for tp in (assigned or ()) if tp.topic == self.topic_name}
        self._resumed &= kept
        for invocation_id, (tp, _) in list(self._unrecorded.items()):
            if tp.partition not in kept:  # their offsets are not committed: the new owner reads them
                del self._unrecorded[invocation_id]
        moved = [task for task, partition in list(self._tasks.values()) if partition not in kept]
        for task in moved:
            task.cancel()
        if moved:
            log.info("cancelled %d handler(s) of partitions now owned elsewhere", len(moved))
        self._settled.set()


async def _call(function: RegisteredFunction, payload: Any, context: InvocationContext) -> Any:
    args = (payload, context) if function.wants_context else (payload,)
    if function.is_async:
        return await function.handler(*args)
    return await asyncio.to_thread(function.handler, *args)


def _pairs(headers: Any) -> list[tuple[str, Any]]:
    return list(headers.items()) if isinstance(headers, dict) else list(headers or ())


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
