"""The distributed object store: any S3-compatible server (AWS, SeaweedFS, MinIO) through
aioboto3. botocore takes over a second to import, so it is imported on first use, never when a
service starts; addressing is path-style, which SeaweedFS and MinIO need. An abort waits for
this process's part uploads in flight and is sent twice (``_s3uploads``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from v100.kit.errors import BackendUnavailable
from v100.kit.storage._base import (
    MAX_PART_SIZE,
    Data,
    MiB,
    ObjectInfo,
    ObjectStore,
    StoredObject,
    UploadedPart,
    check_cutoff,
    check_expires_in,
    check_part_number,
    check_parts_order,
    check_range,
    content_disposition,
    validate_key,
    validate_prefix,
)
from v100.kit.storage._errors import UploadNotFound
from v100.kit.storage._s3errors import translated_errors
from v100.kit.storage._s3uploads import PartWrites, orphaned_uploads

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import (
        CreateBucketRequestTypeDef,
        CreateMultipartUploadRequestTypeDef,
        GetObjectRequestTypeDef,
        ListObjectsV2RequestTypeDef,
        PutObjectRequestTypeDef,
    )

__all__ = ["S3Store"]


def _etag(raw: str) -> str:
    return raw.strip('"')


class S3Store(ObjectStore):
    """Objects in ``bucket``, under ``prefix`` when given (several deployments or test runs
    can share one bucket). ``public_endpoint_url`` is the address browsers use, when it differs
    from the one the services use (SigV4 signs the host, so presigned URLs must name it).
    ``abort_wait`` bounds how long an abort waits for part uploads in flight."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        public_endpoint_url: str | None = None,
        part_size: int = 8 * MiB,
        chunk_size: int = MiB,
        connect_timeout: float = 5,
        read_timeout: float = 60,
        max_attempts: int = 3,
        abort_wait: float = 60,
    ) -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        if prefix:
            validate_key(prefix.rstrip("/"))
        self.bucket = bucket
        self.prefix = prefix
        self._endpoint_url = endpoint_url
        self._public_endpoint_url = public_endpoint_url
        self._region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._part_size = part_size
        self._chunk_size = chunk_size
        self._timeouts = (connect_timeout, read_timeout)
        self._max_attempts = max_attempts
        self._abort_wait = abort_wait
        self._part_writes = PartWrites()
        self._clients: dict[str | None, S3Client] = {}
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    async def _client(self, endpoint_url: str | None = None) -> S3Client:
        endpoint_url = endpoint_url or self._endpoint_url
        client = self._clients.get(endpoint_url)
        if client is not None:
            return client
        async with self._lock:
            if endpoint_url not in self._clients:
                self._clients[endpoint_url] = await self._stack.enter_async_context(
                    self._new_client(endpoint_url)
                )
            return self._clients[endpoint_url]

    def _new_client(self, endpoint_url: str | None) -> Any:
        import aioboto3
        from aiobotocore.config import AioConfig

        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": self._max_attempts, "mode": "standard"},
            connect_timeout=self._timeouts[0],
            read_timeout=self._timeouts[1],
            # Newer botocore adds CRC trailers by default; S3-compatible servers do not all
            # understand them, and SigV4 plus Content-MD5 where required already protect us.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return aioboto3.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=self._region,
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            config=config,
        )

    def _k(self, key: str) -> str:
        return self.prefix + validate_key(key)

    # -- lifecycle ------------------------------------------------------------------------
    async def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        client = await self._client()
        with translated_errors(self.bucket):
            try:
                await client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    raise
            request: CreateBucketRequestTypeDef = {"Bucket": self.bucket}
            if self._region != "us-east-1":
                # us-east-1 is the one region that rejects an explicit location constraint.
                request["CreateBucketConfiguration"] = {"LocationConstraint": self._region}  # type: ignore[typeddict-item]
            try:
                await client.create_bucket(**request)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise

    async def ping(self) -> None:
        try:
            client = await self._client()
            await client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise BackendUnavailable(f"bucket {self.bucket!r} does not answer: {exc}") from exc

    async def close(self) -> None:
        async with self._lock:
            await self._stack.aclose()
            self._clients.clear()
            self._stack = contextlib.AsyncExitStack()

    # -- objects --------------------------------------------------------------------------
    async def _put_bytes(self, key: str, data: bytes, content_type: str | None) -> StoredObject:
        client = await self._client()
        request: PutObjectRequestTypeDef = {
            "Bucket": self.bucket,
            "Key": self._k(key),
            "Body": data,
        }
        if content_type:
            request["ContentType"] = content_type
        with translated_errors(key):
            response = await client.put_object(**request)
        return StoredObject(key=key, size=len(data), etag=_etag(response["ETag"]))

    async def put(self, key: str, data: Data, content_type: str | None = None) -> StoredObject:
        validate_key(key)
        if isinstance(data, bytes | bytearray | memoryview):
            return await self._put_bytes(key, bytes(data), content_type)
        # A stream of unknown length: one PUT if it fits a part, else a multipart upload whose
        # part size doubles every 1000 parts, so 10,000 parts reach terabytes.
        part_size, buffer, total = self._part_size, bytearray(), 0
        upload_id: str | None = None
        parts: list[UploadedPart] = []
        try:
            async for chunk in data:
                buffer += chunk
                while len(buffer) >= part_size:
                    if upload_id is None:
                        upload_id = await self.create_multipart(key, content_type)
                    piece = bytes(buffer[:part_size])
                    del buffer[:part_size]
                    number = len(parts) + 1
                    etag = await self.upload_part(key, upload_id, number, piece)
                    parts.append(UploadedPart(number, etag, len(piece)))
                    total += len(piece)
                    if number % 1000 == 0:
                        part_size = min(part_size * 2, MAX_PART_SIZE)
            if upload_id is None:
                return await self._put_bytes(key, bytes(buffer), content_type)
            if buffer:
                number = len(parts) + 1
                etag = await self.upload_part(key, upload_id, number, bytes(buffer))
                parts.append(UploadedPart(number, etag, len(buffer)))
                total += len(buffer)
            etag = await self._complete(key, upload_id, parts)
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.abort_multipart(key, upload_id))
            raise
        return StoredObject(key=key, size=total, etag=etag)

    async def get(self, key: str) -> bytes:
        client = await self._client()
        with translated_errors(key):
            response = await client.get_object(Bucket=self.bucket, Key=self._k(key))
            async with response["Body"] as body:
                return await body.read()

    async def open(
        self, key: str, start: int = 0, end_inclusive: int | None = None
    ) -> AsyncIterator[bytes]:
        if start < 0 or (end_inclusive is not None and end_inclusive < start):
            raise ValueError(f"invalid byte range {start}-{end_inclusive}")
        client = await self._client()
        request: GetObjectRequestTypeDef = {"Bucket": self.bucket, "Key": self._k(key)}
        if start or end_inclusive is not None:
            request["Range"] = f"bytes={start}-{'' if end_inclusive is None else end_inclusive}"
        with translated_errors(key):
            response = await client.get_object(**request)
            body = response["Body"]
            async with body:
                while chunk := await body.read(self._chunk_size):
                    yield chunk

    async def get_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        check_range(start, end_inclusive)
        client = await self._client()
        with translated_errors(key):
            response = await client.get_object(
                Bucket=self.bucket, Key=self._k(key), Range=f"bytes={start}-{end_inclusive}"
            )
            async with response["Body"] as body:
                return await body.read()

    async def head(self, key: str) -> ObjectInfo:
        client = await self._client()
        with translated_errors(key):
            response = await client.head_object(Bucket=self.bucket, Key=self._k(key))
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            content_type=response.get("ContentType"),
            etag=_etag(response["ETag"]),
            last_modified=response["LastModified"],
        )

    async def delete(self, key: str) -> None:
        client = await self._client()
        with translated_errors(key):
            await client.delete_object(Bucket=self.bucket, Key=self._k(key))

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        validate_prefix(prefix)
        client = await self._client()
        cut = len(self.prefix)
        token: str | None = None
        while True:
            request: ListObjectsV2RequestTypeDef = {
                "Bucket": self.bucket,
                "Prefix": self.prefix + prefix,
            }
            if token:
                request["ContinuationToken"] = token
            with translated_errors(prefix):
                page = await client.list_objects_v2(**request)
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=item["Key"][cut:],
                    size=item["Size"],
                    content_type=None,
                    etag=_etag(item["ETag"]),
                    last_modified=item["LastModified"],
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    # -- multipart ------------------------------------------------------------------------
    async def create_multipart(self, key: str, content_type: str | None = None) -> str:
        client = await self._client()
        request: CreateMultipartUploadRequestTypeDef = {"Bucket": self.bucket, "Key": self._k(key)}
        if content_type:
            request["ContentType"] = content_type
        with translated_errors(key):
            response = await client.create_multipart_upload(**request)
        return response["UploadId"]

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        check_part_number(part_number)
        validate_key(key)
        request = self._part_writes.start(
            upload_id, self._upload_part(key, upload_id, part_number, data)
        )
        # Cancelling the caller leaves the request running to its end: an abort waits for it.
        return await asyncio.shield(request)

    async def _upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        client = await self._client()
        with translated_errors(key):
            response = await client.upload_part(
                Bucket=self.bucket,
                Key=self._k(key),
                UploadId=upload_id,
                PartNumber=part_number,
                Body=data,
            )
        return _etag(response["ETag"])

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        client = await self._client()
        # SeaweedFS keeps every upload of a part number and lists them all; AWS keeps the last.
        # Keep the newest per number (later in the listing on a tie): exact on AWS, best effort
        # on SeaweedFS, whose timestamps have one-second resolution. A caller that re-uploads
        # a part should complete with the etag upload_part returned.
        newest: dict[int, tuple[datetime, UploadedPart]] = {}
        marker = 0
        while True:
            with translated_errors(key):
                page = await client.list_parts(
                    Bucket=self.bucket,
                    Key=self._k(key),
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                )
            for p in page.get("Parts", []):
                part = UploadedPart(p["PartNumber"], _etag(p["ETag"]), p["Size"])
                seen = newest.get(part.part_number)
                if seen is None or p["LastModified"] >= seen[0]:
                    newest[part.part_number] = (p["LastModified"], part)
            marker = int(page.get("NextPartNumberMarker") or 0)
            if not page.get("IsTruncated") or not marker:
                return [part for _, (_, part) in sorted(newest.items())]

    async def _complete(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> str:
        check_parts_order(parts)
        client = await self._client()
        with translated_errors(key):
            response = await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._k(key),
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [
                        {"PartNumber": p.part_number, "ETag": f'"{_etag(p.etag)}"'} for p in parts
                    ]
                },
            )
        return _etag(response["ETag"])

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> StoredObject:
        etag = await self._complete(key, upload_id, parts)
        # CompleteMultipartUpload does not say how big the object is.
        return StoredObject(key=key, size=(await self.head(key)).size, etag=etag)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        await self._abort(self._k(key), upload_id)

    async def _abort(self, full_key: str, upload_id: str) -> None:
        async with self._part_writes.fenced(upload_id, self._abort_wait):
            client = await self._client()
            # Twice, as AWS advises: a part whose upload was still being stored when the first
            # abort arrived may land after it; the second drops it (NoSuchUpload otherwise).
            for _ in range(2):
                with contextlib.suppress(UploadNotFound), translated_errors(full_key):
                    await client.abort_multipart_upload(
                        Bucket=self.bucket, Key=full_key, UploadId=upload_id
                    )

    async def sweep_multipart(self, older_than: datetime) -> int:
        """Abort the uploads under this store's prefix initiated before ``older_than`` and
        given no part since (LastModified of their parts), except those this process is
        writing or aborting."""
        check_cutoff(older_than)
        client = await self._client()
        stale = [
            found
            async for found in orphaned_uploads(client, self.bucket, self.prefix, older_than)
            if not self._part_writes.in_flight(found[1])
        ]
        for full_key, upload_id in stale:
            await self._abort(full_key, upload_id)
        return len(stale)

    # -- presigned URLs -------------------------------------------------------------------
    async def presign_get(self, key: str, expires_in: int, filename: str | None = None) -> str:
        check_expires_in(expires_in)
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._k(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        client = await self._client(self._public_endpoint_url)
        return await client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )

    async def presign_put(self, key: str, expires_in: int, content_type: str | None = None) -> str:
        check_expires_in(expires_in)
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._k(key)}
        if content_type:
            params["ContentType"] = content_type
        client = await self._client(self._public_endpoint_url)
        return await client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=expires_in
        )
