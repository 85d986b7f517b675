"""Blocking file operations behind the local-disk store; the store runs each in a worker thread.

Layout under the root: ``data/<key>`` holds the bytes, ``meta/<key>`` a JSON sidecar (etag,
content type, and the inode it describes), ``uploads/<id>/`` the parts of a multipart upload
(``uploads/.trash/`` those being removed), ``tmp/`` files being written. Everything is written
to ``tmp/`` and renamed into place, so a reader sees a whole old object or a whole new one. The
sidecar names the data file's inode: when the two renames are interrupted or race, a reader
notices the mismatch and derives the etag from the file itself instead of pairing bytes with
another version's metadata."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import orjson

from v100.kit.storage._base import ObjectInfo, StoredObject, validate_prefix
from v100.kit.storage._errors import KeyConflict, ObjectNotFound

__all__ = ["Layout", "TempObject", "delete_object", "list_objects", "open_read", "read_info"]

_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EISDIR)


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def meta(self) -> Path:
        return self.root / "meta"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def data_path(self, key: str) -> Path:
        # Safe only for keys that passed validate_key: no '..', no absolute path, no NUL.
        return self.data / key

    def meta_path(self, key: str) -> Path:
        return self.meta / key

    def create_dirs(self) -> None:
        for path in (self.data, self.meta, self.uploads, self.tmp):
            path.mkdir(parents=True, exist_ok=True)

    def new_tmp(self, suffix: str = "") -> tuple[Path, BinaryIO]:
        path = self.tmp / f"{uuid.uuid4().hex}{suffix}"
        try:
            return path, path.open("xb")
        except FileNotFoundError:
            self.tmp.mkdir(parents=True, exist_ok=True)
            return path, path.open("xb")


def _fallback_etag(st: os.stat_result) -> str:
    # No trustworthy sidecar: an etag that still changes whenever the file does.
    seed = f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}".encode()
    return hashlib.md5(seed, usedforsecurity=False).hexdigest()


def _info(layout: Layout, key: str, st: os.stat_result) -> ObjectInfo:
    etag, content_type = _fallback_etag(st), None
    with contextlib.suppress(OSError, ValueError):
        meta = orjson.loads(layout.meta_path(key).read_bytes())
        if meta.get("ino") == st.st_ino and meta.get("size") == st.st_size:
            etag, content_type = meta["etag"], meta.get("content_type")
    return ObjectInfo(
        key=key,
        size=st.st_size,
        content_type=content_type,
        etag=etag,
        last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
    )


def read_info(layout: Layout, key: str) -> ObjectInfo:
    try:
        st = os.stat(layout.data_path(key), follow_symlinks=False)
    except OSError as exc:
        if exc.errno in _MISSING:
            raise ObjectNotFound(f"no object {key!r}") from None
        raise
    if not stat.S_ISREG(st.st_mode):
        raise ObjectNotFound(f"no object {key!r}")
    return _info(layout, key, st)


def open_read(layout: Layout, key: str) -> tuple[int, ObjectInfo]:
    """An open descriptor and the info of the version it reads; later replacements of the key
    do not change what this descriptor sees."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(layout.data_path(key), flags)
    except OSError as exc:
        if exc.errno in _MISSING:
            raise ObjectNotFound(f"no object {key!r}") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ObjectNotFound(f"no object {key!r}")
    return fd, _info(layout, key, st)


def _make_parent(path: Path, key: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise KeyConflict(f"a prefix of {key!r} is an existing object") from None


def _replace(src: Path, dst: Path, key: str) -> None:
    # A concurrent delete may prune the parent directory between mkdir and rename: retry.
    for attempt in range(3):
        _make_parent(dst, key)
        try:
            os.replace(src, dst)
            return
        except FileNotFoundError:
            if attempt == 2:
                raise
        except (IsADirectoryError, NotADirectoryError, FileExistsError):
            raise KeyConflict(f"{key!r} is a prefix of existing objects") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(
    layout: Layout,
    tmp: Path,
    fh: BinaryIO,
    key: str,
    etag: str,
    content_type: str | None,
    fsync: bool,
) -> StoredObject:
    """Move the finished temp file ``tmp`` (open as ``fh``) into place as ``key``."""
    meta_tmp: Path | None = None
    try:
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
        st = os.fstat(fh.fileno())
        fh.close()
        meta = {"etag": etag, "content_type": content_type, "ino": st.st_ino, "size": st.st_size}
        meta_tmp, meta_fh = layout.new_tmp(".json")
        with meta_fh:
            meta_fh.write(orjson.dumps(meta))
            if fsync:
                os.fsync(meta_fh.fileno())
        data_path = layout.data_path(key)
        _replace(meta_tmp, layout.meta_path(key), key)
        _replace(tmp, data_path, key)
        if fsync:
            _fsync_dir(data_path.parent)
    except BaseException:
        fh.close()
        for leftover in (tmp, meta_tmp):
            if leftover is not None:
                leftover.unlink(missing_ok=True)
        raise
    return StoredObject(key=key, size=st.st_size, etag=etag)


class TempObject:
    """A new object being written to ``tmp/``, hashed as it goes; ``commit`` publishes it."""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._path, self._fh = layout.new_tmp()
        self._md5 = hashlib.md5(usedforsecurity=False)
        # A cancelled upload discards from one thread while a write may still run in another.
        self._lock = threading.Lock()

    def write(self, chunk: bytes) -> None:
        with self._lock:
            self._fh.write(chunk)
            self._md5.update(chunk)

    def commit(self, key: str, content_type: str | None, fsync: bool) -> StoredObject:
        with self._lock:
            return commit(
                self._layout, self._path, self._fh, key, self._md5.hexdigest(), content_type, fsync
            )

    def discard(self) -> None:
        with self._lock:
            self._fh.close()
            self._path.unlink(missing_ok=True)


def write_object(
    layout: Layout, key: str, data: bytes, content_type: str | None, fsync: bool
) -> StoredObject:
    obj = TempObject(layout)
    try:
        obj.write(data)
    except BaseException:
        obj.discard()
        raise
    return obj.commit(key, content_type, fsync)


def read_all(layout: Layout, key: str) -> bytes:
    fd, _ = open_read(layout, key)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _prune_empty_parents(path: Path, stop: Path) -> None:
    parent = path.parent
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def delete_object(layout: Layout, key: str) -> None:
    for path, top in ((layout.data_path(key), layout.data), (layout.meta_path(key), layout.meta)):
        try:
            path.unlink()
        except OSError as exc:
            if exc.errno not in (*_MISSING, errno.EPERM):
                raise
            continue
        _prune_empty_parents(path, top)


def list_objects(layout: Layout, prefix: str) -> Iterator[ObjectInfo]:
    """Objects under ``prefix`` in key order, walking only the directories that can match."""
    base, sep, _ = validate_prefix(prefix).rpartition("/")
    start = layout.data / base if base else layout.data
    yield from _walk(layout, start, base + sep, prefix)


def _walk(layout: Layout, directory: Path, rel: str, prefix: str) -> Iterator[ObjectInfo]:
    try:
        with os.scandir(directory) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False), e) for e in it]
    except (FileNotFoundError, NotADirectoryError):
        return
    # Sorting directories as "name/" reproduces S3's order over full keys ("a.b" < "a/b").
    entries.sort(key=lambda item: item[0] + "/" if item[1] else item[0])
    for name, is_dir, entry in entries:
        key = rel + name
        if is_dir:
            if (key + "/").startswith(prefix) or prefix.startswith(key + "/"):
                yield from _walk(layout, Path(entry.path), key + "/", prefix)
        elif key.startswith(prefix):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield _info(layout, key, st)
