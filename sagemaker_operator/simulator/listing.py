"""What every ``List*`` operation shares: time, name and status filters, sorting, stable pagination.

Written once so every kind pages the same way. A page token holds the sort key of the last item
returned (not an offset), so items created between two pages neither repeat nor shift the next page,
and a token used with another sort order is rejected as SageMaker rejects a token from another request.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import validation_error

Summary = dict[str, Any]
SortKey = Callable[[Summary], tuple[Any, ...]]

DEFAULT_PAGE_SIZE = 10


def as_datetime(value: Any) -> datetime:
    """A timestamp parameter as botocore sends it over the JSON protocol (epoch seconds), or ISO text."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def encode_token(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def decode_token(token: str) -> dict[str, Any]:
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        raise validation_error("Invalid pagination token.")
    return document


def standard_sort_keys(name_key: str, status_key: str) -> dict[str, SortKey]:
    """SortBy Name, CreationTime and Status, each made total by falling back on time and name."""
    return {
        "Name": lambda s: (s[name_key],),
        "CreationTime": lambda s: (s["CreationTime"].timestamp(), s[name_key]),
        "Status": lambda s: (s[status_key], s["CreationTime"].timestamp(), s[name_key]),
    }


def filter_summaries(
    summaries: list[Summary], params: Mapping[str, Any], *, name_key: str, status_key: str
) -> list[Summary]:
    """Apply the Creation/LastModified time bounds, NameContains and StatusEquals a request carries."""
    for member in ("CreationTime", "LastModifiedTime"):
        after, before = params.get(f"{member}After"), params.get(f"{member}Before")
        if after is not None:
            low = as_datetime(after)
            summaries = [s for s in summaries if member in s and s[member] > low]
        if before is not None:
            high = as_datetime(before)
            summaries = [s for s in summaries if member in s and s[member] < high]
    if params.get("NameContains"):
        needle = params["NameContains"].lower()
        summaries = [s for s in summaries if needle in s[name_key].lower()]
    if params.get("StatusEquals"):
        summaries = [s for s in summaries if s[status_key] == params["StatusEquals"]]
    return summaries


def page(
    summaries: list[Summary],
    params: Mapping[str, Any],
    *,
    items_key: str,
    sort_keys: Mapping[str, SortKey],
    default_sort: str,
    default_order: str,
) -> dict[str, Any]:
    """Sort ``summaries`` as asked, skip past NextToken and cut a page of MaxResults (default 10)."""
    sort_by = params.get("SortBy", default_sort)
    descending = params.get("SortOrder", default_order) == "Descending"
    key = sort_keys[sort_by]
    ordered = sorted(summaries, key=key, reverse=descending)
    if params.get("NextToken"):
        token = decode_token(params["NextToken"])
        if token.get("sort") != [sort_by, descending] or not isinstance(token.get("after"), list):
            raise validation_error("Invalid pagination token: the request changed between pages.")
        after = tuple(token["after"])
        ordered = [s for s in ordered if (key(s) < after if descending else key(s) > after)]
    page_size = params.get("MaxResults", DEFAULT_PAGE_SIZE)
    response: dict[str, Any] = {items_key: ordered[:page_size]}
    if len(ordered) > page_size:
        last = ordered[page_size - 1]
        response["NextToken"] = encode_token({"sort": [sort_by, descending], "after": list(key(last))})
    return response
