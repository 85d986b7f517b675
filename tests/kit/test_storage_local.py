"""What only the local-disk store has: its on-disk layout and crash safety, the kernel-copy
fallback, key collisions, a part write that lands while its upload is being removed, what the
sweep clears after a crash, and the presigned-link routes (tokens, ranges, caching, limits)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette

from v100.kit.errors import BackendUnavailable
from v100.kit.storage import (
    MIN_PART_SIZE,
    AppendLocked,
    InvalidPart,
    InvalidPresignedUrl,
    KeyConflict,
    LocalDiskStore,
    RangeNotSatisfiable,
    UploadedPart,
    UploadNotFound,
    _localparts,
    parse_range,
    presigned_routes,
)
from v100.kit.storage._presign import PresignedGrant, sign_grant

KEY = b"k" * 32


@pytest.fixture
async def store(tmp_path: Path) -> LocalDiskStore:
    local = LocalDiskStore(tmp_path / "objects", signing_key=KEY)
    await local.ensure_bucket()
    return local


@pytest.fixture
async def http(store: LocalDiskStore) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=presigned_routes(store, max_put_bytes=1000))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def test_layout_and_no_leftovers(store: LocalDiskStore) -> None:
    await store.put("a/b.txt", b"bytes", "text/plain")

    assert (store.root / "data" / "a" / "b.txt").read_bytes() == b"bytes"
    meta = orjson.loads((store.root / "meta" / "a" / "b.txt").read_bytes())
    assert meta["content_type"] == "text/plain"
    assert list((store.root / "tmp").iterdir()) == []


async def test_failed_stream_leaves_nothing(store: LocalDiskStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (3 * 1024 * 1024)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put("partial", broken())

    assert not await store.exists("partial")
    assert list((store.root / "tmp").iterdir()) == []


async def test_stale_sidecar_is_not_trusted(store: LocalDiskStore) -> None:
    await store.put("k", b"new bytes", "video/mp4")
    # A crash between the two renames leaves a sidecar describing another file.
    meta_path = store.root / "meta" / "k"
    meta = orjson.loads(meta_path.read_bytes())
    meta_path.write_bytes(orjson.dumps({**meta, "ino": meta["ino"] + 1}))

    info = await store.head("k")
    assert info.size == 9
    assert info.content_type is None
    assert info.etag != hashlib.md5(b"new bytes", usedforsecurity=False).hexdigest()


async def test_open_reader_keeps_its_version(store: LocalDiskStore) -> None:
    await store.put("k", b"version one")
    async with await store.open_reader("k") as reader:
        await store.put("k", b"version two, longer")
        assert b"".join([c async for c in reader.iter_bytes()]) == b"version one"
    assert await store.get("k") == b"version two, longer"


async def test_key_and_directory_cannot_share_a_path(store: LocalDiskStore) -> None:
    await store.put("a", b"file")
    with pytest.raises(KeyConflict):
        await store.put("a/b", b"under a file")
    await store.put("x/y", b"nested")
    with pytest.raises(KeyConflict):
        await store.put("x", b"over a directory")
    assert await store.get("a") == b"file"
    assert await store.get("x/y") == b"nested"


@pytest.mark.parametrize("failure", ["exdev", "missing"])
async def test_multipart_join_without_copy_file_range(
    store: LocalDiskStore, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    if failure == "missing":
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    else:

        def cross_device(*_args: object, **_kwargs: object) -> int:
            raise OSError(errno.EXDEV, "cross-device")

        monkeypatch.setattr(os, "copy_file_range", cross_device)
    first, last = os.urandom(MIN_PART_SIZE), os.urandom(1000)
    upload_id = await store.create_multipart("joined", None)
    e1 = await store.upload_part("joined", upload_id, 1, first)
    e2 = await store.upload_part("joined", upload_id, 2, last)
    await store.complete_multipart("joined", upload_id, await store.list_parts("joined", upload_id))

    assert await store.get("joined") == first + last
    assert e1 != e2
    assert not (store.root / "uploads" / upload_id).exists()


async def test_multipart_refuses_small_middle_part(store: LocalDiskStore) -> None:
    # AWS refuses parts under 5 MiB but the last; so does the embedded store, so code that
    # would fail in production fails here first.
    from v100.kit.storage import InvalidPart

    upload_id = await store.create_multipart("small", None)
    await store.upload_part("small", upload_id, 1, b"tiny")
    await store.upload_part("small", upload_id, 2, b"tail")
    with pytest.raises(InvalidPart, match="smaller than 5 MiB"):
        await store.complete_multipart(
            "small", upload_id, await store.list_parts("small", upload_id)
        )


async def test_upload_ids_cannot_traverse(store: LocalDiskStore) -> None:
    from v100.kit.storage import UploadNotFound

    upload_id = await store.create_multipart("mine", None)
    for bad in ["../../data", "x" * 8, upload_id + "/.."]:
        with pytest.raises(UploadNotFound):
            await store.list_parts("mine", bad)
    with pytest.raises(UploadNotFound):  # right id, someone else's key
        await store.upload_part("other", upload_id, 1, b"x")


async def test_an_appended_upload_becomes_the_object_by_rename(store: LocalDiskStore) -> None:
    upload_id = await store.create_multipart("clips/a.bin", "video/mp4")
    first = await store.open_append("clips/a.bin", upload_id, 0)
    try:
        await first.write([b"hello ", b"wor", b"ld"], 0)
        await first.write([b"!!! never recorded"], 11)
        await first.sync()
        with pytest.raises(AppendLocked):  # one writer at a time
            await store.open_append("clips/a.bin", upload_id, 11)
    finally:
        first.close()
    # Reopened at the recorded offset: what a failed request wrote past it is cut off.
    second = await store.open_append("clips/a.bin", upload_id, 11)
    try:
        await second.write([b"?"], 11)
    finally:
        second.close()
    data_file = store.root / "uploads" / upload_id / "data"
    inode = data_file.stat().st_ino
    assert await store.list_parts("clips/a.bin", upload_id) == []
    with pytest.raises(InvalidPart):  # not the size the caller recorded
        await store.complete_append("clips/a.bin", upload_id, 11)
    stored = await store.complete_append("clips/a.bin", upload_id, 12)
    assert await store.get("clips/a.bin") == b"hello world?"
    info = await store.head("clips/a.bin")
    assert (info.size, info.content_type, info.etag) == (12, "video/mp4", stored.etag)
    assert stored.etag.endswith("-1")
    assert len(stored.etag) == 34
    # The bytes were never copied: the object is the upload's file under its new name.
    assert (store.root / "data" / "clips" / "a.bin").stat().st_ino == inode
    assert not (store.root / "uploads" / upload_id).exists()
    assert list((store.root / "tmp").iterdir()) == []
    with pytest.raises(UploadNotFound):  # completed: a retry knows by the object being there
        await store.complete_append("clips/a.bin", upload_id, 12)


async def test_an_appended_upload_refuses_a_hole_and_aborts(store: LocalDiskStore) -> None:
    upload_id = await store.create_multipart("b.bin")
    with pytest.raises(BackendUnavailable):  # 5 bytes recorded that the disk does not hold
        await store.open_append("b.bin", upload_id, 5)
    appended = await store.open_append("b.bin", upload_id, 0)
    await appended.write([b"abc"], 0)
    appended.close()
    await store.abort_multipart("b.bin", upload_id)
    with pytest.raises(UploadNotFound):
        await store.open_append("b.bin", upload_id, 0)
    assert not await store.exists("b.bin")


def test_part_uploads_last_one_wins(tmp_path: Path) -> None:
    layout = LocalDiskStore(tmp_path)._layout
    upload_id = _localparts.create_upload(layout, "k", None)
    # Back to back, within one tick of the filesystem clock: order must still decide.
    etags = [
        _localparts.write_part(layout, "k", upload_id, 7, bytes([n]) * 100, False)
        for n in range(20)
    ]
    parts = _localparts.list_upload_parts(layout, "k", upload_id)
    assert [(p.part_number, p.etag) for p in parts] == [(7, etags[-1])]


def test_concurrent_part_uploads_settle_on_one(tmp_path: Path) -> None:
    layout = LocalDiskStore(tmp_path)._layout
    upload_id = _localparts.create_upload(layout, "k", None)

    def upload(n: int) -> str:
        return _localparts.write_part(layout, "k", upload_id, 3, bytes([n]) * 50_000, False)

    with ThreadPoolExecutor(8) as pool:
        etags = set(pool.map(upload, range(32)))

    parts = _localparts.list_upload_parts(layout, "k", upload_id)
    assert len(parts) == 1
    assert parts[0].etag in etags
    assert len(list((layout.uploads / upload_id).glob("00003.*"))) == 1


@pytest.mark.parametrize("ending", ["abort", "complete"])
async def test_a_part_landing_while_its_upload_is_removed_is_not_kept(
    store: LocalDiskStore, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    # A part write whose caller gave up (recording ingest past its limit) runs on in its worker
    # thread. Its worst moment: putting the part in place while the upload is being removed.
    first = os.urandom(MIN_PART_SIZE)
    upload_id = await store.create_multipart("race.webm")
    etag = await store.upload_part("race.webm", upload_id, 1, first)
    held, go_on, done = threading.Event(), threading.Event(), threading.Event()
    writers: set[int] = set()
    write_part, locked, unlink = _localparts.write_part, _localparts._locked, os.unlink

    def tracked_write_part(*args: Any, **kwargs: Any) -> str:
        writers.add(threading.get_ident())
        try:
            return write_part(*args, **kwargs)
        finally:
            done.set()

    def held_locked(path: Path) -> contextlib.AbstractContextManager[None]:
        if threading.get_ident() in writers and not held.is_set():
            held.set()  # the part's bytes are in a temp file, not yet renamed into place
            go_on.wait(5)
        return locked(path)

    def unlink_once_the_write_ended(path: Any, *args: Any, **kwargs: Any) -> None:
        if held.is_set() and not go_on.is_set() and threading.get_ident() not in writers:
            go_on.set()  # the upload's first file is being removed: the write ends now
            done.wait(5)
        unlink(path, *args, **kwargs)

    monkeypatch.setattr(_localparts, "write_part", tracked_write_part)
    monkeypatch.setattr(_localparts, "_locked", held_locked)
    monkeypatch.setattr(os, "unlink", unlink_once_the_write_ended)

    writing = asyncio.create_task(store.upload_part("race.webm", upload_id, 2, b"late part"))
    assert await asyncio.to_thread(held.wait, 5)
    writing.cancel()
    if ending == "abort":
        await store.abort_multipart("race.webm", upload_id)
    else:
        await store.complete_multipart("race.webm", upload_id, [UploadedPart(1, etag)])
        assert await store.get("race.webm") == first
    assert await asyncio.to_thread(done.wait, 5)

    assert [p for p in (store.root / "uploads").rglob("*") if not p.is_dir()] == []
    assert list((store.root / "tmp").iterdir()) == []
    with pytest.raises(UploadNotFound):
        await store.list_parts("race.webm", upload_id)


async def test_sweep_clears_what_a_crash_left(store: LocalDiskStore) -> None:
    uploads = store.root / "uploads"
    # Killed while removing an upload: its directory stays in the trash (garbage at any age).
    interrupted = uploads / ".trash" / "an-aborted-upload.1a2b3c4d"
    interrupted.mkdir(parents=True)
    (interrupted / f"00001.{'0' * 32}").write_bytes(b"part")
    # Killed between creating an upload's directory and writing its manifest, long ago.
    bare = uploads / ("b" * 32)
    bare.mkdir()
    os.utime(bare, (1_000_000_000, 1_000_000_000))
    live = await store.create_multipart("live.bin")
    await store.upload_part("live.bin", live, 1, b"in use")

    assert await store.sweep_multipart(datetime.fromtimestamp(1_000_000_100, UTC)) == 1
    assert sorted(p.name for p in uploads.iterdir()) == [".trash", live]
    assert list((uploads / ".trash").iterdir()) == []
    assert [p.part_number for p in await store.list_parts("live.bin", live)] == [1]


# -- presigned routes ---------------------------------------------------------------------


async def test_head_and_conditional_get(store: LocalDiskStore, http: httpx.AsyncClient) -> None:
    await store.put("v.mp4", b"0123456789", "video/mp4")
    url = await store.presign_get("v.mp4", 60)

    head = await http.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == "10"
    assert head.content == b""
    etag = head.headers["etag"]

    assert (await http.get(url, headers={"If-None-Match": etag})).status_code == 304
    stale = await http.get(url, headers={"Range": "bytes=0-1", "If-Range": '"other"'})
    assert (stale.status_code, stale.content) == (200, b"0123456789")
    fresh = await http.get(url, headers={"Range": "bytes=8-", "If-Range": etag})
    assert (fresh.status_code, fresh.content) == (206, b"89")
    get = await http.get(url)
    assert get.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in get.headers["content-security-policy"]


async def test_missing_object_is_a_problem_404(
    store: LocalDiskStore, http: httpx.AsyncClient
) -> None:
    url = await store.presign_get("never-written", 60)
    response = await http.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_put_size_limit(store: LocalDiskStore, http: httpx.AsyncClient) -> None:
    url = await store.presign_put("big", 60)
    assert (await http.put(url, content=b"x" * 1001)).status_code == 413

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(11):
            yield b"y" * 100

    assert (await http.put(url, content=body())).status_code == 413
    assert not await store.exists("big")
    assert (await http.put(url, content=b"z" * 1000)).status_code == 200


def test_tokens_cannot_be_altered_or_reused_elsewhere(tmp_path: Path) -> None:
    store = LocalDiskStore(tmp_path, signing_key=KEY)
    grant = PresignedGrant("mine.txt", "GET", 4_000_000_000)
    token = sign_grant(KEY, grant)
    assert store.verify_presigned(token, "GET") == grant
    assert store.verify_presigned(token, "HEAD") == grant

    other = sign_grant(KEY, PresignedGrant("theirs.txt", "GET", 4_000_000_000))
    spliced = other.split(".")[0] + "." + token.split(".")[1]  # their key, my signature
    foreign = sign_grant(b"another deployment's key........", grant)
    bad_key = sign_grant(KEY, PresignedGrant("../etc/passwd", "GET", 4_000_000_000))
    for forged in [spliced, foreign, bad_key, "", "no-dot", token + "x", "a.b.c"]:
        with pytest.raises(InvalidPresignedUrl):
            store.verify_presigned(forged, "GET")
    with pytest.raises(InvalidPresignedUrl, match="does not allow PUT"):
        store.verify_presigned(token, "PUT")
    expired = sign_grant(KEY, PresignedGrant("mine.txt", "GET", 1_000))
    with pytest.raises(InvalidPresignedUrl, match="expired"):
        store.verify_presigned(expired, "GET")


async def test_link_from_a_random_key_dies_with_the_store(tmp_path: Path) -> None:
    first = LocalDiskStore(tmp_path)
    url = await first.presign_get("k", 60)
    assert first.verify_presigned(_token(url), "GET").key == "k"
    with pytest.raises(InvalidPresignedUrl):
        LocalDiskStore(tmp_path).verify_presigned(_token(url), "GET")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", (0, 0)),
        ("bytes=5-", (5, 9)),
        ("bytes=5-500", (5, 9)),
        ("bytes=-3", (7, 9)),
        ("bytes=-30", (0, 9)),
        ("bytes=0-1,4-5", None),  # several ranges: served whole, as RFC 9110 allows
        ("items=0-1", None),
        ("bytes=4-2", None),
        ("bytes=a-b", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 10) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 10)


async def test_streaming_does_not_block_the_loop(store: LocalDiskStore) -> None:
    # Disk work runs in threads: a ticker keeps running while 32 MiB are written and read.
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    data = os.urandom(32 * 1024 * 1024)
    await store.put("big", data)
    assert await store.get("big") == data
    stop.set()
    await task
    assert ticks > 10


async def test_links_over_a_real_server(store: LocalDiskStore) -> None:
    # Real sockets and a real HTTP stack: streaming bodies both ways, HEAD without a body.
    app = Starlette(routes=presigned_routes(store))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    data = os.urandom(3 * 1024 * 1024 + 5)
    try:
        async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
            put_url = await store.presign_put("up/file.bin", 60)

            async def body() -> AsyncIterator[bytes]:
                for offset in range(0, len(data), 256 * 1024):
                    yield data[offset : offset + 256 * 1024]

            assert (await client.put(put_url, content=body())).status_code == 200
            get_url = await store.presign_get("up/file.bin", 60)
            assert (await client.get(get_url)).content == data
            ranged = await client.get(get_url, headers={"Range": "bytes=1048576-2097151"})
            assert (ranged.status_code, ranged.content) == (206, data[1048576:2097152])
            head = await client.head(get_url)
            assert head.headers["content-length"] == str(len(data))
    finally:
        server.should_exit = True
        await task
