"""API Gateway and chat limits in one place, each with where it comes from."""

from __future__ import annotations

#: API Gateway WebSocket message payload limit, and botocore's max for ``PostToConnection.Data``.
MAX_PAYLOAD_BYTES = 128 * 1024

#: API Gateway WebSocket frame size limit (a larger frame closes the connection with 1009).
MAX_FRAME_BYTES = 32 * 1024

#: How long a connection row lives before DynamoDB's TTL may delete it: 24 hours, well past
#: API Gateway's 2-hour maximum connection duration, so a live connection is never expired.
CONNECTION_TTL_SECONDS = 24 * 60 * 60

#: ``@connections`` posts in flight at once during a fan-out, each on a kept-alive connection
#: of its own (bounded so a large room cannot exhaust the Lambda's sockets; past 16, a wider
#: window bought little locally, ``docs/performance.md``).
FANOUT_MAX_IN_FLIGHT = 16

#: How long one ``@connections`` request may wait for a connection, to send, or for its
#: answer. API Gateway answers in tens of milliseconds; a request still unanswered after
#: this is given up rather than holding up the rest of the room.
POST_TIMEOUT_SECONDS = 2.0

#: The most one delivery (a fan-out, its retries and their backoff) may start work within.
#: A step already under way when it runs out may finish, so the sender's worst case is this
#: plus two timeouts (:func:`chatlib.sender.worst_case_seconds`, 8 s), which leaves the
#: function 2 s of its 10 s timeout (``infra_cfn/chat.yaml``) to read the table and answer.
#: Before, 3 attempts of up to 5 s each plus backoff could take 18 s: Lambda stopped the
#: function mid-fan-out and the sender never got its answer.
SEND_BUDGET_SECONDS = 4.0

#: Room and user ids: URL- and log-safe characters only, short enough to read.
IDENTIFIER_PATTERN = r"[A-Za-z0-9_-]+"
IDENTIFIER_MAX_LENGTH = 64

#: Connection ids per queue message of the sharded fan-out (``FanOut=sharded``): the sender
#: posts the first page itself and queues the rest, one worker invocation per page. A page
#: message is then about the frame (at most 32 KB) plus 100 ids of ~16 characters, well under
#: 256 KiB, the message limit SQS had until 2025 (1 MiB since). The sender reads
#: ``FANOUT_PAGE_SIZE`` from its environment (tests make it 2, so that a room of three
#: already goes through the queue).
FANOUT_PAGE_SIZE = 100

#: Entries per ``SendMessageBatch`` call: SQS's limit
#: (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html).
SQS_BATCH_ENTRIES = 10
