"""moto's SQS without its inline Lambda invocation: messages wait in the queue for a poller.

On AWS, a queue does not call Lambda. Lambda's event source mapping *polls* the queue
(``ReceiveMessage``), invokes the function with a batch, and deletes the batch's messages when
the function succeeds (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).

moto 5.2 instead has ``Queue.add_message`` (every ``SendMessage``, ``SendMessageBatch`` and
dead-letter move) receive the new messages at once and invoke each mapped function inline,
inside the sender's request. moto runs a function in Docker; without Docker (a learner's
laptop here) the invocation fails, and moto makes the messages visible again, each already
received once: a fresh message then shows ``ApproximateReceiveCount`` 1 before anyone has
received it, and a queue with ``maxReceiveCount`` 3 sends it to its dead-letter queue a
receive early. It also prints a Docker error per message.

The local runtime has its own poller, as Lambda does (:mod:`chatlib.local.gateway.
event_sources`: it receives over HTTP from moto's real SQS and invokes the function through
the same runtime as every other invocation). So :func:`keep_messages_for_the_poller` gives
``add_message`` moto's own body up to the point where the message is queued and the readers
waiting in a long poll are woken, and drops the inline invocation after it. Applied, with its
fingerprint, by :func:`chatlib.local.moto_server.install`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["keep_messages_for_the_poller"]


def keep_messages_for_the_poller() -> None:
    """``Queue.add_message``: moto 5.2.5's body (FIFO deduplication, append, wake the long
    polls), without the loop over ``lambda_event_source_mappings`` that follows it there."""
    from moto.sqs.models import DEDUPLICATION_TIME_IN_SECONDS, Queue

    def add_message(self: Any, message: Any) -> None:
        if self.fifo_queue and (
            self.attributes.get("ContentBasedDeduplication") == "true" or message.deduplication_id
        ):
            for queued in self._messages:
                if queued.deduplication_id == message.deduplication_id:
                    since = message.sent_timestamp - queued.sent_timestamp
                    if since / 1000 < DEDUPLICATION_TIME_IN_SECONDS:
                        return  # a duplicate within the deduplication interval
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()

    Queue.add_message = add_message
