"""Where each Delta table lives: ``<lake root>/<layer>/<table>``.

The lake root is a ``file://`` URI under the state dir by default; ``s3a://`` (or ``s3://``) URIs are
accepted and handed to Spark/delta-rs unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from lakepulse_common.control_events import Layer

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def validate_table_name(table: str) -> str:
    """Table names become path segments and SQL identifiers: only ``[a-z0-9_]`` is allowed."""
    if not _NAME.match(table):
        raise ValueError(f"invalid table name {table!r}: use lower-case letters, digits and underscores")
    return table


def table_uri(lake_root: str, layer: Layer | str, table: str) -> str:
    layer = Layer(layer)
    if layer is Layer.SOURCE:
        raise ValueError("the source layer is PostgreSQL, not a lake table")
    return f"{lake_root.rstrip('/')}/{layer.value}/{validate_table_name(table)}"


def is_local(uri: str) -> bool:
    return uri.startswith("file://")


def local_path(uri: str) -> Path:
    """The filesystem path behind a ``file://`` URI."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValueError(f"not a local URI: {uri}")
    return Path(unquote(parsed.path))


def for_spark(uri: str) -> str:
    """Spark's Hadoop filesystem wants ``s3a://`` for S3; ``file:///`` works as is."""
    return "s3a://" + uri[len("s3://") :] if uri.startswith("s3://") else uri


def for_delta_rs(uri: str) -> str:
    """delta-rs reads plain paths for local tables and ``s3://`` for S3."""
    if is_local(uri):
        return str(local_path(uri))
    return "s3://" + uri[len("s3a://") :] if uri.startswith("s3a://") else uri
