"""moto's DynamoDB Query, without deep-copying every item it reads: the same answers.

A room's fan-out starts with a Query of the room index for its members' ids. moto 5.2's
``Table.query`` selects and sorts the partition's items, then walks them to fill a page,
working out each item's size attribute by attribute twice (once to check the 1 MB page
limit, once to add it up), and then deep-copies every item of the page before it applies the
index's projection, the ``FilterExpression`` and the ``ProjectionExpression``. For a room of
1,000 that copy and that sizing were about two thirds of moto's time for the Query
(``docs/performance.md``), and the chat's Query keeps one string of each item.

:func:`query_without_copies` answers with moto's own steps in moto's own order (the same
candidates from ``all_items``, moto's ``sorted_items``, its page loop, its last evaluated
key, the index's ``project``, the filter, the item's ``project``), with three differences
that change no answer:

* each item's size is worked out once per Query, strings and numbers directly (the same
  arithmetic as ``DynamoType.size``: UTF-8 bytes of a string, characters of a number);
* nothing is copied before the projections: an index's ``KEYS_ONLY``/``INCLUDE`` projection
  and a ``ProjectionExpression`` already build new items, and the filter only reads;
* an item returned whole (no projection) is copied after the filter, not before, and
  without ``copy.deepcopy``'s bookkeeping: a new ``DynamoType`` per attribute (a string,
  number, binary or boolean value is immutable and shared; lists, maps and sets are copied
  as moto copies them). So, as in moto, changing a returned item never changes the table.
  And unlike moto's copies, nothing keeps it after the answer: moto's models (``BaseModel``)
  add every instance made through their ``__new__`` to a class-wide list for moto's
  dashboard, so each Query of a room of 1,000 left 2,002 items behind (1,001 copies, 1,001
  projections), about 1 MB a message for as long as moto ran. (The string projection of
  :mod:`.moto_server` makes its items as plain objects too.)

What moto's query does that this does not (multi-attribute index keys, the legacy
``QueryFilter``, an unknown index, a consistent read of a global index, a sort-key condition
on an index without a sort key) goes to moto's own query, which answers or raises as it
does. Applied, with its fingerprint, by :func:`chatlib.local.moto_server.install`;
``tests/test_moto_patches.py`` compares its answers with moto's for a spread of queries.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["query_without_copies"]

#: Attribute types whose value (a ``str``, ``bytes`` or ``bool``) is immutable.
_SCALARS = frozenset({"S", "N", "B", "BOOL", "NULL"})


def query_without_copies() -> None:
    """Replace ``Table.query`` (moto's stays reachable as its ``__wrapped__``)."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

    generic = Table.query

    def query(
        self: Any,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: int,
        exclusive_start_key: dict[str, Any],
        scan_index_forward: bool,
        projection_expressions: list[list[str]] | None,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: list[tuple[str, Any]] | None = None,
        range_key_conditions: list[tuple[str, str, list[Any]]] | None = None,
        **filter_kwargs: Any,
    ) -> tuple[list[Any], int, dict[str, Any] | None]:
        keys = None
        if not filter_kwargs and len(range_key_conditions or ()) <= 1:
            keys = _key_attributes(self, index_name, consistent_read, range_comparison)
        if keys is None:
            return generic(
                self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                scan_index_forward, projection_expressions, index_name, consistent_read,
                filter_expression, hash_key_conditions, range_key_conditions, **filter_kwargs,
            )  # fmt: skip
        index, hash_attrs, range_attrs, range_attr, required = keys
        if range_key_conditions:
            range_attr = range_key_conditions[-1][0]

        # moto's candidates, in moto's order, sorted as moto sorts them
        if index is not None:
            conditions = dict(hash_key_conditions or ())
            possible = [
                item
                for item in self.all_items()
                if isinstance(item, Item)
                and all(
                    item.attrs.get(name) is not None and item.attrs.get(name) == value
                    for name, value in conditions.items()
                )
                and (required is None or item.attrs.get(required) is not None)
            ]
            possible = self.sorted_items(hash_attrs, range_attrs, possible)
        else:
            possible = [
                item
                for item in self.all_items()
                if isinstance(item, Item) and item.hash_key == hash_key
            ]
            possible.sort(key=lambda item: item.range_key)
        if scan_index_forward is False:
            possible.reverse()

        # moto's page loop, each item sized once
        results: list[Any] = []
        result_size = scanned_count = 0
        last_evaluated_key = None
        previous_page = exclusive_start_key is not None
        for result in possible:
            if previous_page:
                if self._item_comes_before_dct(
                    result, exclusive_start_key, hash_attrs, range_attrs, scan_index_forward
                ):
                    continue
                previous_page = False
            size = _size(result)
            if len(results) == limit or result_size + size > RESULT_SIZE_LIMIT:
                last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
                break
            if range_comparison:
                if range_attr and result.attrs.get(range_attr):
                    compared = result.attrs[range_attr]
                elif index is None:
                    compared = result.range_key
                else:
                    continue
                if not compared.compare(range_comparison, range_objs):
                    continue
            results.append(result)
            result_size += size
            scanned_count += 1

        answered = []
        for result in results:
            item = index.project(result) if index is not None else result
            if filter_expression is not None and not filter_expression.expr(item):
                continue
            if projection_expressions:
                item = item.project(projection_expressions)
            answered.append(_copied(item) if item is result else _fresh_keys(item))
        return answered, scanned_count, last_evaluated_key

    query.__wrapped__ = generic  # type: ignore[attr-defined]
    Table.query = query


def _key_attributes(
    table: Any, index_name: str | None, consistent_read: bool, range_comparison: str | None
) -> tuple[Any, list[str], list[str | None], str | None, str | None] | None:
    """As moto's ``Table.query`` works them out: ``(index, hash_attrs, range_attrs, the
    attribute a sort-key condition compares, the attribute an index item must have)``; or
    ``None`` for a query this module leaves to moto's (see the module's doc)."""
    from moto.dynamodb.models.table import GlobalSecondaryIndex

    if not index_name:
        return None, [table.hash_key_attr], [table.range_key_attr], None, None
    index = {index.name: index for index in table.all_indexes()}.get(index_name)
    if index is None or (consistent_read and index in table.global_indexes):
        return None  # moto raises its ValidationException
    hashes = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
    ranges = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) > 1 or (range_comparison and not ranges):
        return None  # multi-attribute keys; or no sort key to compare (moto: ValueError)
    if ranges:
        range_attr = ranges[0]
    elif isinstance(index, GlobalSecondaryIndex) and table.range_key_attr:
        range_attr = table.range_key_attr  # moto sorts a GSI without one by the table's
    else:
        range_attr = table.hash_key_attr
    hash_attrs = [hashes[0], table.hash_key_attr]
    required = ranges[0] if ranges else None
    return index, hash_attrs, [range_attr, table.range_key_attr], range_attr, required


def _size(item: Any) -> int:
    """``Item.size()``: strings and numbers sized here, every other type by its own
    ``size()`` (moto's ``bytesize`` is the UTF-8 length; a number's is its digits')."""
    total = 0
    for name, value in item.attrs.items():
        kind = value.type
        if kind == "S":
            total += len(name.encode("utf-8")) + len(value.value.encode("utf-8"))
        elif kind == "N":
            total += len(name.encode("utf-8")) + len(str(value.value))
        else:
            total += len(name.encode("utf-8")) + value.size()
    return total


def _fresh(value: Any) -> Any:
    """A copy of one ``DynamoType`` as moto's ``__deepcopy__`` makes it, without
    ``copy.deepcopy``'s dispatch and memo for the immutable kinds."""
    if value is None:
        return None
    if value.type not in _SCALARS:
        return copy.deepcopy(value)
    fresh = object.__new__(type(value))
    fresh.type, fresh.value = value.type, value.value
    return fresh


def _copied(item: Any) -> Any:
    """A stored item, copied for an answer: a new item, attributes and ``DynamoType`` s (the
    size check that adding an attribute runs is skipped, as moto's own copy skips it)."""
    copied = object.__new__(type(item))
    copied.hash_key, copied.range_key = _fresh(item.hash_key), _fresh(item.range_key)
    attrs = dict.__new__(type(item.attrs))
    dict.update(attrs, {name: _fresh(value) for name, value in item.attrs.items()})
    copied.attrs = attrs
    return copied


def _fresh_keys(item: Any) -> Any:
    """A projected item (new attributes) gets keys of its own too, as in moto, whose
    projections start from a copy."""
    item.hash_key, item.range_key = _fresh(item.hash_key), _fresh(item.range_key)
    return item
