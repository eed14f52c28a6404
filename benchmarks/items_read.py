"""DynamoDB items read per chat message: Scan (broadcast step) versus GSI Query (rooms step).

The table grows with rooms of a fixed size; for each size, one message's read is measured
both ways with DynamoDB's own ScannedCount. The GSI path must read exactly the room's members.

    python benchmarks/items_read.py [--room-size 5] [--sizes 10 100 1000 2000]
"""

from __future__ import annotations

import argparse
import sys
import time

import boto3

from chatlib import Connection, ConnectionStore, create_connection_table, start_embedded_aws


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--room-size", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 2000])
    args = parser.parse_args()

    start_embedded_aws()
    create_connection_table("items-read")
    store = ConnectionStore("items-read")
    client = boto3.client("dynamodb")
    now_ms = int(time.time() * 1000)
    written = 0
    exact = True
    print(f"rooms of {args.room_size}")
    print(f"{'connections':>11} {'Scan reads':>10} {'Query reads':>11} {'room size':>9}")
    for size in args.sizes:
        rows = []
        while written < size:
            room = f"room-{written // args.room_size}"
            connection = Connection.opened(f"c{written:06d}", room, f"u{written}", now_ms)
            rows.append({"PutRequest": {"Item": connection.to_item()}})
            written += 1
        for start in range(0, len(rows), 25):
            client.batch_write_item(RequestItems={"items-read": rows[start : start + 25]})
        scan = store.all_connection_ids()
        query = store.room_member_ids("room-0")
        exact &= query.items_read == len(query) == args.room_size
        print(f"{size:>11} {scan.items_read:>10} {query.items_read:>11} {len(query):>9}")
    print("GSI path reads exactly the room's members:", "yes" if exact else "NO")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
