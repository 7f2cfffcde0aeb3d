"""Publishing many dramatiq messages with one wait for RabbitMQ's confirms.

dramatiq's `enqueue` with `confirm_delivery` waits for each message's confirm before it sends
the next, so a publisher is bound by round trips (a twelfth of what RabbitMQ takes without
confirms). Here a channel in confirm mode has a whole batch in flight: every message is
written, then the confirms are awaited once. RabbitMQ answers each delivery tag with an ack
(it has the message: routed to a durable queue) or a nack (it refused it, e.g. a full queue
with `x-overflow: reject-publish`); a message returned as unroutable (`mandatory`) is refused
too. `publish` answers, per message, whether it was confirmed; one with no answer (the
connection died, the wait timed out) counts as not confirmed, so the caller makes it due again.

The messages are dramatiq's own (same body, same properties as `RabbitmqBroker.enqueue`: the
queue's name as routing key, persistent, the broker priority), so the actors do not change.
Queues are declared by the dramatiq broker first (once per process), with its arguments.

pika's SelectConnection is driven in the caller's thread: the I/O loop runs only while a batch
is waiting for its answers, and one publisher (one connection) serves one tick's batches.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import pika
from dramatiq import Message
from dramatiq.broker import Broker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import Middleware
from pika.spec import Basic

log = logging.getLogger(__name__)

#: The longest wait for a batch's confirms (or for the connection to open), in seconds.
CONFIRM_TIMEOUT_S = 30.0


class PublishError(Exception):
    """The connection could not be opened or was lost; nothing unconfirmed counts."""


class BatchPublisher:
    """One RabbitMQ connection and confirm-mode channel for publishing batches of messages.

    `send` writes a batch and returns its ticket; `settle(ticket)` waits for that batch's
    answers. A caller may send the next batch before settling the last (the tick claims the
    next batch while RabbitMQ confirms the previous one); `publish` is both at once.
    """

    def __init__(self, broker: RabbitmqBroker, *, timeout: float = CONFIRM_TIMEOUT_S) -> None:
        self._broker = broker
        self._timeout = timeout
        params = broker.parameters
        self._params = params[0] if isinstance(params, list) else params
        # dramatiq's enqueue hooks, called only when some middleware has them (ours do not).
        self._hooked = any(
            type(m).before_enqueue is not Middleware.before_enqueue
            or type(m).after_enqueue is not Middleware.after_enqueue
            for m in broker.middleware)
        self._connection: Any = None
        self._channel: Any = None
        self._ready = False
        self._error: str | None = None
        self._next_tag = 1
        self._tickets = itertools.count(1)
        self._pending: dict[int, tuple[int, int]] = {}  # delivery tag → (ticket, index)
        self._tag_of: dict[str, int] = {}  # message id → delivery tag (for returns)
        self._answers: dict[int, list[bool | None]] = {}  # ticket → an answer per message
        self._left: Counter[int] = Counter()  # ticket → messages not yet answered
        self._dead: set[int] = set()  # tickets whose connection is gone
        self._sent: dict[int, Sequence[Message[Any]]] = {}
        self._until: Callable[[], bool] = lambda: True

    # -- public ---------------------------------------------------------------------------------

    def __enter__(self) -> BatchPublisher:
        return self

    def __exit__(self, _type: type[BaseException] | None, _exc: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.close()

    def publish(self, messages: Sequence[Message[Any]]) -> list[bool]:
        """Publish every message, then wait once; True where RabbitMQ confirmed the message."""
        return self.settle(self.send(messages))

    def send(self, messages: Sequence[Message[Any]]) -> int:
        """Write a batch (queued for the I/O loop); its answers come with `settle`."""
        for queue in {m.queue_name for m in messages}:
            self._broker.declare_queue(queue, ensure=True)
        self._open()
        ticket = next(self._tickets)
        self._answers[ticket] = [None] * len(messages)
        self._left[ticket] = len(messages)
        self._sent[ticket] = messages
        publish = self._channel.basic_publish
        for index, message in enumerate(messages):
            if self._hooked:
                self._broker.emit_before("enqueue", message, None)
            publish(
                exchange="",
                routing_key=message.queue_name,
                body=message.encode(),
                properties=pika.BasicProperties(
                    delivery_mode=2, priority=message.options.get("broker_priority"),
                    message_id=message.message_id),
                mandatory=True,  # an unroutable message is returned, not silently dropped
            )
            self._pending[self._next_tag] = (ticket, index)
            self._tag_of[message.message_id] = self._next_tag
            self._next_tag += 1
        return ticket

    def settle(self, ticket: int) -> list[bool]:
        """Wait for the batch's answers: True where RabbitMQ confirmed the message; a message
        with no answer (connection lost, timed out) is False."""
        if ticket not in self._dead:
            self._run(lambda: self._left[ticket] == 0)
        self._dead.discard(ticket)
        answers = self._answers.pop(ticket)
        messages = self._sent.pop(ticket)
        unanswered = sum(answer is None for answer in answers)
        self._left.pop(ticket, None)
        for message in messages:
            self._tag_of.pop(message.message_id, None)
        if unanswered:
            log.warning("publishing: %d of %d message(s) not confirmed (%s)", unanswered,
                        len(answers), self._error or "timed out")
            self._pending = {t: v for t, v in self._pending.items() if v[0] != ticket}
            self.close()  # a lost or stuck channel: the next batch opens a fresh one
        confirmed = [answer is True for answer in answers]
        if self._hooked:
            for message, ok in zip(messages, confirmed, strict=True):
                if ok:
                    self._broker.emit_after("enqueue", message, None)
        return confirmed

    def close(self) -> None:
        connection, self._connection = self._connection, None
        self._ready = False
        if connection is not None and connection.is_open:
            connection.close()
            self._run(lambda: bool(connection.is_closed), connection)

    # -- the I/O loop ---------------------------------------------------------------------------

    def _open(self) -> None:
        if self._connection is not None and self._ready:
            return
        if self._connection is not None:  # broken: what it had in flight stays unanswered
            self.close()
        self._error = None
        self._next_tag = 1
        self._pending.clear()
        self._dead.update(self._left)  # sent on the old connection: they get no answer now
        self._connection = pika.SelectConnection(
            self._params, on_open_callback=self._opened,
            on_open_error_callback=self._failed, on_close_callback=self._closed)
        self._run(lambda: self._ready or self._error is not None)
        if not self._ready:
            self.close()
            raise PublishError(f"cannot open a publishing channel: {self._error or 'timed out'}")

    def _run(self, until: Callable[[], bool], connection: Any = None) -> None:
        """Drive the I/O loop until `until()` holds, the connection fails, or the timeout."""
        connection = connection or self._connection
        if connection is None or until():
            return
        self._until = until
        loop = connection.ioloop
        timer = loop.call_later(self._timeout, loop.stop)
        loop.start()
        loop.remove_timeout(timer)

    def _check(self) -> None:
        if self._until() and self._connection is not None:
            self._connection.ioloop.stop()

    def _opened(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._channel_opened)

    def _channel_opened(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._channel_closed)
        channel.add_on_return_callback(self._returned)
        channel.confirm_delivery(ack_nack_callback=self._confirmed, callback=self._confirming)

    def _confirming(self, _frame: Any) -> None:
        self._ready = True
        self._check()

    def _confirmed(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, Basic.Ack)
        tags = ([t for t in self._pending if t <= method.delivery_tag] if method.multiple
                else [method.delivery_tag])
        for tag in tags:
            found = self._pending.pop(tag, None)
            if found is None:
                continue
            ticket, index = found
            answers = self._answers[ticket]
            if answers[index] is None:
                answers[index] = ok
            self._left[ticket] -= 1
        self._check()

    def _returned(self, _channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        # A return comes before the message's ack: the ack must not count it as taken.
        tag = self._tag_of.get(properties.message_id)
        found = self._pending.get(tag) if tag is not None else None
        if found is not None:
            ticket, index = found
            self._answers[ticket][index] = False
        log.warning("publishing: message %s returned (%s)", properties.message_id,
                    method.reply_text)

    def _failed(self, _connection: Any, error: BaseException | str) -> None:
        self._error = str(error) or type(error).__name__
        if self._connection is not None:
            self._connection.ioloop.stop()

    def _channel_closed(self, _channel: Any, reason: BaseException) -> None:
        self._error = self._error or f"channel closed: {reason}"
        self._ready = False
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        elif self._connection is not None:
            self._connection.ioloop.stop()

    def _closed(self, connection: Any, reason: BaseException) -> None:
        self._error = self._error or f"connection closed: {reason}"
        self._ready = False
        connection.ioloop.stop()


class EnqueuePublisher:
    """The same interface over `broker.enqueue`, one message at a time: for a broker that is
    not RabbitMQ (the demo's in-process StubBroker)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._done: list[list[bool]] = []

    def __enter__(self) -> EnqueuePublisher:
        return self

    def __exit__(self, _type: type[BaseException] | None, _exc: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.close()

    def publish(self, messages: Sequence[Message[Any]]) -> list[bool]:
        for index, message in enumerate(messages):
            try:
                self._broker.enqueue(message)
            except Exception as exc:
                log.warning("publishing: %s (%s)", type(exc).__name__, exc)
                return [True] * index + [False] * (len(messages) - index)
        return [True] * len(messages)

    def send(self, messages: Sequence[Message[Any]]) -> int:
        self._done.append(self.publish(messages))
        return len(self._done) - 1

    def settle(self, ticket: int) -> list[bool]:
        return self._done[ticket]

    def close(self) -> None:
        pass


Publisher = BatchPublisher | EnqueuePublisher


def publisher_for(broker: Broker) -> Publisher:
    """Batched confirms on RabbitMQ; one enqueue at a time on any other broker."""
    if isinstance(broker, RabbitmqBroker):
        return BatchPublisher(broker)
    return EnqueuePublisher(broker)
