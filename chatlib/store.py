"""The connection store: one row per open WebSocket connection, in DynamoDB.

Reads that return many rows (a room's members, everyone) follow ``LastEvaluatedKey`` through
boto3's paginators, because DynamoDB returns at most 1 MB per call: an unpaginated Query or
Scan silently drops everyone past the first page. They also report how many items DynamoDB
read, which is what a Scan-versus-Query comparison is about.

Rows whose ``ttl`` has passed are treated as absent. DynamoDB deletes expired items lazily
(typically within days) and moto never does, so every read filters them out itself. A room
or broadcast read also leaves out connections whose token has expired (``expiresAt``): they
hear nothing more, and the next message they send closes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from chatlib.limits import CONNECTION_TTL_SECONDS
from chatlib.table import ROOM_INDEX, TTL_ATTRIBUTE, USER_INDEX

__all__ = ["EXPIRES_ATTRIBUTE", "Connection", "ConnectionStore", "ReadResult"]

_RETRIES = Config(retries={"mode": "standard"})

#: The row's copy of its token's ``exp``, for connections opened behind the authorizer.
EXPIRES_ATTRIBUTE = "expiresAt"


@dataclass(frozen=True)
class Connection:
    """One open WebSocket connection: who it is and which room it joined."""

    connection_id: str
    room_id: str
    user_id: str
    connected_at: int  # ms since the epoch, as API Gateway's requestContext.connectedAt
    ttl: int  # s since the epoch, when DynamoDB may delete the row
    expires_at: int | None = None  # s since the epoch: the token's exp (auth step only)

    @classmethod
    def opened(
        cls,
        connection_id: str,
        room_id: str,
        user_id: str,
        connected_at: int,
        *,
        expires_at: int | None = None,
    ) -> Connection:
        """A new row whose TTL lies 24 h after ``connected_at``."""
        return cls(
            connection_id=connection_id,
            room_id=room_id,
            user_id=user_id,
            connected_at=connected_at,
            ttl=connected_at // 1000 + CONNECTION_TTL_SECONDS,
            expires_at=expires_at,
        )

    def token_expired(self, now: float) -> bool:
        """Whether the token this connection was opened with has expired at ``now`` (s)."""
        return self.expires_at is not None and now >= self.expires_at

    def to_item(self) -> dict[str, dict[str, str]]:
        item = {
            "connectionId": {"S": self.connection_id},
            "roomId": {"S": self.room_id},
            "userId": {"S": self.user_id},
            "connectedAt": {"N": str(self.connected_at)},
            TTL_ATTRIBUTE: {"N": str(self.ttl)},
        }
        if self.expires_at is not None:
            item[EXPIRES_ATTRIBUTE] = {"N": str(self.expires_at)}
        return item

    @classmethod
    def from_item(cls, item: dict[str, dict[str, str]]) -> Connection:
        expires = item.get(EXPIRES_ATTRIBUTE)
        return cls(
            connection_id=item["connectionId"]["S"],
            room_id=item["roomId"]["S"],
            user_id=item["userId"]["S"],
            connected_at=int(item["connectedAt"]["N"]),
            ttl=int(item[TTL_ATTRIBUTE]["N"]),
            expires_at=int(expires["N"]) if expires else None,
        )

    def public_view(self) -> dict[str, Any]:
        """What a client may be told about its own connection."""
        return {
            "connectionId": self.connection_id,
            "roomId": self.room_id,
            "userId": self.user_id,
            "connectedAt": self.connected_at,
        }


@dataclass(frozen=True)
class ReadResult:
    """Rows a multi-item read returned, with what the read cost.

    A read of ids only (``room_member_ids``) fills ``ids`` and leaves ``connections`` empty.
    """

    connections: list[Connection] = field(default_factory=list)
    items_read: int = 0  # DynamoDB's ScannedCount summed over pages: what you pay for
    pages: int = 0
    ids: list[str] | None = None

    def __iter__(self) -> Iterator[Connection]:
        if self.ids is not None:
            raise TypeError("an ids-only read has no Connection rows: use .connection_ids")
        return iter(self.connections)

    def __len__(self) -> int:
        return len(self.connection_ids)

    @property
    def connection_ids(self) -> list[str]:
        if self.ids is not None:
            return self.ids
        return [c.connection_id for c in self.connections]


class ConnectionStore:
    """Put, get, delete and list connections in one table.

    ``client`` is a boto3 DynamoDB client (made from the environment when omitted);
    ``clock`` returns epoch seconds and decides which rows have expired; ``page_size``
    caps items per Query/Scan call (``None``: DynamoDB's 1 MB pages).
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.time,
        page_size: int | None = None,
    ) -> None:
        self.table_name = table_name
        # botocore's standard retry mode (3 attempts), whatever the installed botocore's default
        # is: older ones, like some Lambda runtimes', default to "legacy", 10 tries for DynamoDB
        self._client = client or boto3.client("dynamodb", config=_RETRIES)
        self._clock = clock
        self._page_size = page_size

    def put(self, connection: Connection) -> None:
        self._client.put_item(TableName=self.table_name, Item=connection.to_item())

    def get(self, connection_id: str) -> Connection | None:
        """The live row for ``connection_id``, or ``None`` if there is none or it has expired."""
        response = self._client.get_item(
            TableName=self.table_name,
            Key={"connectionId": {"S": connection_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return None
        connection = Connection.from_item(item)
        return connection if connection.ttl > self._clock() else None

    def delete(self, connection_id: str) -> None:
        """Forget a connection. Deleting one that is not there is not an error."""
        self._client.delete_item(
            TableName=self.table_name, Key={"connectionId": {"S": connection_id}}
        )

    def room_members(self, room_id: str) -> ReadResult:
        """Everyone in ``room_id``: a Query on the room index, reading only that room's rows."""
        return self._read(
            "query",
            IndexName=ROOM_INDEX,
            KeyConditionExpression="roomId = :key",
            ExpressionAttributeValues={":key": {"S": room_id}},
        )

    def room_member_ids(self, room_id: str) -> ReadResult:
        """Only the ids of a room's members: what a fan-out needs, in a smaller response."""
        return self._read(
            "query",
            ids_only=True,
            IndexName=ROOM_INDEX,
            KeyConditionExpression="roomId = :key",
            ExpressionAttributeValues={":key": {"S": room_id}},
        )

    def user_connections(self, user_id: str) -> ReadResult:
        """Every connection of ``user_id`` (a user may have several tabs open)."""
        return self._read(
            "query",
            IndexName=USER_INDEX,
            KeyConditionExpression="userId = :key",
            ExpressionAttributeValues={":key": {"S": user_id}},
        )

    def all_connections(self) -> ReadResult:
        """Everyone: a Scan, which reads every row of the table whatever you need."""
        return self._read("scan")

    def all_connection_ids(self) -> ReadResult:
        """Everyone's id: still a Scan reading every row, but a smaller response."""
        return self._read("scan", ids_only=True)

    def _read(self, operation: str, *, ids_only: bool = False, **request: Any) -> ReadResult:
        values = request.pop("ExpressionAttributeValues", {})
        values[":now"] = {"N": str(int(self._clock()))}
        if ids_only:
            request["ProjectionExpression"] = "connectionId"
        paginator = self._client.get_paginator(operation)
        pages = paginator.paginate(
            TableName=self.table_name,
            FilterExpression="#ttl > :now AND (attribute_not_exists(#exp) OR #exp > :now)",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE, "#exp": EXPIRES_ATTRIBUTE},
            ExpressionAttributeValues=values,
            PaginationConfig={"PageSize": self._page_size} if self._page_size else {},
            **request,
        )
        connections: list[Connection] = []
        ids: list[str] = []
        items_read = page_count = 0
        for page in pages:
            page_count += 1
            items_read += page["ScannedCount"]
            if ids_only:
                ids.extend(item["connectionId"]["S"] for item in page["Items"])
            else:
                connections.extend(Connection.from_item(item) for item in page["Items"])
        return ReadResult(connections, items_read, page_count, ids if ids_only else None)
