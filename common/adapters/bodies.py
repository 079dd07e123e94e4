"""Email bodies, stored once, apart from the jobs (docs/storage.md, section 3 "Body").

A body item (``pk`` = ``b#<body id>``) in the jobs table is written once and
never updated; every status change of a job then writes a small item. The
body id is the job id for a job of its own and the bulk id for a bulk send
(one body for all its jobs).

- ``zt``: the plain text, UTF-8, raw DEFLATE (``zlib`` level 9, no header);
  ``zh`` likewise for the HTML when there is one; or
- ``s3``: the key (``<domain>/<body id>``) of an S3 object holding both
  compressed parts, when together they exceed ``S3_THRESHOLD`` bytes
  (``pack``: a 4-byte big-endian length of ``zt``, ``zt``, then ``zh``);
- ``expires_at``: the TTL of the jobs that use it.

A body lives as long as the newest job that uses it: the jobs that share one
(a bulk send's) are created together, and a retry gets a copy of its own
(``copy_for``: a new item, and for a large body a new S3 object, made now, so
the bucket's lifecycle, which counts from an object's creation, keeps it as
long as the new job). Nothing ever updates a body item.

``BodyStore.item`` makes the item (and PUTs the S3 object first, for a large
body); the caller writes the item together with its jobs
(``JobStore.put_new``), or alone unless it exists (``put_body_if_absent``: a
retried bulk send). ``get_many`` reads
bodies with one strongly consistent BatchGetItem per 100 ids (a body was
written a moment ago) and one S3 GET per large one; ``BodyCache`` keeps
decompressed bodies per execution environment, least recently used out. A
body that is gone (its item or its object expired: DynamoDB's TTL and S3's
lifecycle each delete on their own schedule) reads as ``None``, never as an
error; a large body's reader needs ``s3:ListBucket`` for S3 to say so
(without it a missing object is ``AccessDenied``).
"""

from __future__ import annotations

import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.attribute_values import Item
from common.adapters.botocore_errors import error_code
from common.adapters.dynamo import BATCH_GET_LIMIT, batch_get, conditionally, storage_error
from common.models.errors import StorageError
from common.models.job import Bodies

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# Compressed parts above this many bytes go to S3 (docs/adr/0003-bodies-stored-once.md).
S3_THRESHOLD = 4_096
CACHE_BYTES = 64 * 1024 * 1024  # decompressed bodies kept per execution environment
_LENGTH = struct.Struct(">I")
# What S3 answers for an object that is not there (with s3:ListBucket; CopyObject names its source).
_GONE = frozenset({"NoSuchKey", "404"})


def body_pk(body_id: str) -> str:
    return f"b#{body_id}"


def s3_key(domain: str, body_id: str) -> str:
    return f"{domain}/{body_id}"


# ------------------------------------------------------------------ the parts
class Parts(NamedTuple):
    """The compressed parts of one body."""

    text: bytes
    html: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.text) + len(self.html or b"")

    def pack(self) -> bytes:
        """Both parts as one S3 object."""
        return _LENGTH.pack(len(self.text)) + self.text + (self.html or b"")

    @classmethod
    def unpack(cls, data: bytes) -> Parts:
        if len(data) < _LENGTH.size:
            raise StorageError("a stored body is malformed")
        (length,) = _LENGTH.unpack_from(data)
        text = data[_LENGTH.size : _LENGTH.size + length]
        html = data[_LENGTH.size + length :]
        if len(text) != length:
            raise StorageError("a stored body is malformed")
        return cls(text, html or None)


def _deflate(value: str) -> bytes:
    packer = zlib.compressobj(level=9, wbits=-15)  # raw DEFLATE: no header, no checksum
    return packer.compress(value.encode()) + packer.flush()


def _inflate(data: bytes) -> str:
    try:
        return zlib.decompress(data, wbits=-15).decode()
    except (zlib.error, UnicodeDecodeError) as exc:
        raise StorageError("a stored body is malformed") from exc


def compress(bodies: Bodies) -> Parts:
    return Parts(_deflate(bodies.text), _deflate(bodies.html) if bodies.html is not None else None)


def decompress(parts: Parts) -> Bodies:
    return Bodies(text=_inflate(parts.text), html=_inflate(parts.html) if parts.html is not None else None)


# ------------------------------------------------------------------ the cache
class BodyCache:
    """Decompressed bodies by id, at most ``max_bytes`` of them (UTF-8), least
    recently used out. One per execution environment: a bulk's body is read
    once however many batches carry its jobs."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self._max = max_bytes
        self._bodies: OrderedDict[str, Bodies] = OrderedDict()
        self._bytes = 0

    def get(self, body_id: str) -> Bodies | None:
        found = self._bodies.get(body_id)
        if found is not None:
            self._bodies.move_to_end(body_id)
        return found

    def put(self, body_id: str, bodies: Bodies) -> None:
        if body_id in self._bodies:
            self._bodies.move_to_end(body_id)
            return
        if bodies.size > self._max:
            return
        self._bodies[body_id] = bodies
        self._bytes += bodies.size
        while self._bytes > self._max:
            _id, dropped = self._bodies.popitem(last=False)
            self._bytes -= dropped.size

    def __contains__(self, body_id: object) -> bool:
        return body_id in self._bodies

    def __len__(self) -> int:
        return len(self._bodies)

    @property
    def bytes(self) -> int:
        return self._bytes


# ------------------------------------------------------------------ the store
class _Gone(Exception):
    """A large body's S3 object is not there (the lifecycle expired it)."""


class BodyStore:
    """Body items in the jobs table, large bodies in the bodies bucket. ``s3``:
    a client, or a function that makes one on first use (a function that
    rarely touches S3 does not make it at start)."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table_name: str,
        s3: S3Client | Callable[[], S3Client] | None,
        bucket: str | None,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._s3_source = s3
        self._s3: S3Client | None = None
        self._bucket = bucket

    def _bucket_client(self) -> tuple[S3Client, str]:
        if self._s3_source is None or not self._bucket:
            raise StorageError("a large body needs the bodies bucket, and none is configured")
        if self._s3 is None:
            source = self._s3_source
            self._s3 = source() if callable(source) else source
        return self._s3, self._bucket

    def item(self, body_id: str, domain: str, bodies: Bodies, *, expires_at: int) -> dict[str, Any]:
        """The body item to write (DynamoDB's JSON), after the S3 PUT of a
        large body. Raises ``StorageError`` when that PUT fails."""
        parts = compress(bodies)
        item: dict[str, Any] = {"pk": {"S": body_pk(body_id)}, "expires_at": {"N": str(expires_at)}}
        if parts.size <= S3_THRESHOLD:
            item["zt"] = {"B": parts.text}
            if parts.html is not None:
                item["zh"] = {"B": parts.html}
            return item
        key = s3_key(domain, body_id)
        self._put_object(key, parts.pack())
        item["s3"] = {"S": key}
        return item

    def put_body_if_absent(self, body: Item) -> bool:
        """Write a body item unless it exists (one conditional PutItem): a
        retried bulk send never rewrites its body. Returns whether this call wrote it."""
        return conditionally(
            "PutItem (body)",
            lambda: self._dynamodb.put_item(
                TableName=self._table, Item=body, ConditionExpression="attribute_not_exists(pk)"
            ),
        )

    def copy_for(self, body_id: str, new_body_id: str, *, expires_at: int) -> Item | None:
        """The body item of a retry (``new_body_id``, living until
        ``expires_at``): a copy of ``body_id``'s, and for a large body a copy
        of its S3 object under ``<domain>/<new body id>`` (CopyObject, made
        now, so the lifecycle keeps it as long as the new job). The caller
        writes the item with the new job. ``None`` when the body is gone.
        One strongly consistent ``GetItem`` (and one ``CopyObject``)."""
        try:
            response = self._dynamodb.get_item(
                TableName=self._table, Key={"pk": {"S": body_pk(body_id)}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem (body)", exc) from exc
        item = response.get("Item")
        if not item:
            return None
        copy: dict[str, Any] = {
            name: value for name, value in item.items() if name not in {"pk", "expires_at", "s3"}
        } | {"pk": {"S": body_pk(new_body_id)}, "expires_at": {"N": str(expires_at)}}
        if "s3" in item:
            source = str(item["s3"]["S"])
            key = s3_key(source.split("/", 1)[0], new_body_id)
            try:
                self._copy_object(source, key)
            except _Gone:
                return None
            copy["s3"] = {"S": key}
        return copy

    def _copy_object(self, source: str, key: str) -> None:
        s3, bucket = self._bucket_client()
        try:
            s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source})
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) in _GONE:
                raise _Gone from exc
            raise storage_error("S3 CopyObject", exc) from exc

    def _put_object(self, key: str, data: bytes) -> None:
        s3, bucket = self._bucket_client()
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/octet-stream")
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("S3 PutObject", exc) from exc

    def get(self, body_id: str) -> Bodies | None:
        """One body (GetItem, strongly consistent; an S3 GET for a large one);
        ``None`` when it is gone."""
        try:
            response = self._dynamodb.get_item(
                TableName=self._table, Key={"pk": {"S": body_pk(body_id)}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem (body)", exc) from exc
        item = response.get("Item")
        return self._bodies_of(item) if item else None

    def get_many(self, body_ids: Sequence[str]) -> dict[str, Bodies]:
        """The bodies of those ids that exist: one consistent BatchGetItem per
        100 ids (unprocessed keys retried), one S3 GET per large body."""
        ids = list(dict.fromkeys(body_ids))
        found: dict[str, Bodies] = {}
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            keys = [{"pk": {"S": body_pk(body_id)}} for body_id in ids[start : start + BATCH_GET_LIMIT]]
            for item in self._batch_get(keys):
                bodies = self._bodies_of(item)
                if bodies is not None:
                    found[str(item["pk"]["S"])[2:]] = bodies
        return found

    def _batch_get(self, keys: list[Any]) -> list[dict[str, Any]]:
        return batch_get(self._dynamodb, self._table, keys, operation="BatchGetItem (bodies)")

    def _bodies_of(self, item: Mapping[str, Any]) -> Bodies | None:
        """The body an item holds or names; ``None`` when its S3 object is gone."""
        if "s3" in item:
            try:
                data = self._get_object(str(item["s3"]["S"]))
            except _Gone:
                return None
            return decompress(Parts.unpack(data))
        if "zt" not in item:
            raise StorageError("a stored body is malformed")
        html = item.get("zh")
        return decompress(Parts(_binary(item["zt"]["B"]), _binary(html["B"]) if html else None))

    def _get_object(self, key: str) -> bytes:
        s3, bucket = self._bucket_client()
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) in _GONE:
                raise _Gone from exc
            raise storage_error("S3 GetObject", exc) from exc


def _binary(value: Any) -> bytes:
    """Bytes from a binary attribute value (a ``Binary`` defines ``__bytes__`` too)."""
    return bytes(value)


class CachedBodies:
    """A ``BodyStore`` read through a ``BodyCache``: what the worker uses."""

    def __init__(self, store: BodyStore, cache: BodyCache) -> None:
        self._store = store
        self._cache = cache

    def prefetch(self, body_ids: Sequence[str]) -> None:
        """Read the bodies not cached yet (one BatchGetItem, S3 GETs) into the cache."""
        missing = [body_id for body_id in dict.fromkeys(body_ids) if body_id not in self._cache]
        if missing:
            for body_id, bodies in self._store.get_many(missing).items():
                self._cache.put(body_id, bodies)

    def get(self, body_id: str) -> Bodies | None:
        """A body from the cache, or read alone (a message without a body id)."""
        found = self._cache.get(body_id)
        if found is None:
            found = self._store.get(body_id)
            if found is not None:
                self._cache.put(body_id, found)
        return found
