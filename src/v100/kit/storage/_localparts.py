"""Multipart uploads on local disk (blocking; run in worker threads). An upload is a directory
``uploads/<id>/`` holding ``upload.json`` (key, content type) and one file per part, named
``<number>.<md5>`` so a part and its etag appear in one atomic rename. On completion the parts
are joined with ``copy_file_range`` (the kernel copies, or reflinks on CoW filesystems) into a
temp file that is then renamed into place like any other object. An upload may instead be
written as one growing file, ``data`` (``open_append``/``complete_append``): the bytes land once,
at their offset, and completion is a rename, with nothing to join.

Aborting or completing fences off writers still in flight, in this process or another: under
the upload's lock the directory is renamed into ``uploads/.trash/`` and removed there. A part
write that was already past its checks then finds no path to land on (``UploadNotFound``) and
the half-written file it holds open is inside the directory being removed; a write holding the
lock finishes first and its part goes with the rest. ``sweep_uploads`` is the second line: it
removes upload directories untouched for longer than a bound, and anything left in the trash."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson

from v100.kit.errors import Conflict
from v100.kit.storage._base import MIN_PART_SIZE, StoredObject, UploadedPart, check_parts_order
from v100.kit.storage._errors import InvalidPart, UploadNotFound
from v100.kit.storage._localfs import Layout, commit

__all__ = [
    "AppendLocked",
    "abort_upload",
    "complete_append",
    "complete_upload",
    "create_upload",
    "list_upload_parts",
    "open_append",
    "sweep_uploads",
    "write_part",
]

_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_PART_FILE = re.compile(r"(\d{5})\.([0-9a-f]{32})")
_COPY_FALLBACK_ERRNOS = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}
_CHUNK = 8 * 1024 * 1024
_APPEND_FILE = "data"
# Under ``uploads/``, so a rename into it never crosses a filesystem; not a valid upload id.
_TRASH = ".trash"


class AppendLocked(Conflict):
    """Another open ``LocalAppendFile`` (in this process or another) writes this upload."""

    slug = "upload-append-locked"
    title = "Upload is being written"


def _upload_dir(layout: Layout, key: str, upload_id: str) -> Path:
    """The upload's directory, after checking it exists and belongs to ``key``."""
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise UploadNotFound(f"no upload {upload_id!r}")
    path = layout.uploads / upload_id
    try:
        manifest = orjson.loads((path / "upload.json").read_bytes())
    except (FileNotFoundError, NotADirectoryError, orjson.JSONDecodeError):
        raise UploadNotFound(f"no upload {upload_id!r}") from None
    if manifest.get("key") != key:
        raise UploadNotFound(f"no upload {upload_id!r} for key {key!r}")
    return path


def create_upload(layout: Layout, key: str, content_type: str | None) -> str:
    upload_id = secrets.token_urlsafe(24)
    path = layout.uploads / upload_id
    path.mkdir(parents=True)
    tmp = path / ".upload.json.tmp"
    tmp.write_bytes(orjson.dumps({"key": key, "content_type": content_type}))
    tmp.replace(path / "upload.json")
    return upload_id


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialize part replacement and completion within one upload, across processes too."""
    with (path / "upload.json").open("rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _current_parts(path: Path) -> dict[int, tuple[Path, str, int]]:
    """Part number -> (file, etag, size). Call it under ``_locked``. Two files for one number
    are left only by a crash between a part's rename and the removal of the one it replaced;
    the newer is kept."""
    found: dict[int, list[tuple[int, str, Path, int]]] = {}
    with os.scandir(path) as it:
        for entry in it:
            match = _PART_FILE.fullmatch(entry.name)
            if not match:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            found.setdefault(int(match[1]), []).append(
                (st.st_mtime_ns, entry.name, Path(entry.path), st.st_size)
            )
    current = {}
    for number, candidates in found.items():
        candidates.sort()
        _, name, file, size = candidates[-1]
        current[number] = (file, name.split(".", 1)[1], size)
        for _, _, stale, _ in candidates[:-1]:
            stale.unlink(missing_ok=True)
    return current


def write_part(
    layout: Layout, key: str, upload_id: str, part_number: int, data: bytes, fsync: bool
) -> str:
    path = _upload_dir(layout, key, upload_id)
    etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    tmp = path / f".part-{secrets.token_hex(8)}"
    final = path / f"{part_number:05d}.{etag}"
    try:
        with tmp.open("xb") as fh:
            fh.write(data)
            if fsync:
                os.fsync(fh.fileno())
        # The last upload of a part number to get here wins, as in S3.
        with _locked(path):
            tmp.replace(final)
            for other in path.glob(f"{part_number:05d}.*"):
                if other != final:
                    other.unlink(missing_ok=True)
    except FileNotFoundError:
        # The upload was completed or aborted while this part was being written.
        raise UploadNotFound(f"no upload {upload_id!r}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return etag


def list_upload_parts(layout: Layout, key: str, upload_id: str) -> list[UploadedPart]:
    path = _upload_dir(layout, key, upload_id)
    try:
        with _locked(path):
            current = _current_parts(path)
    except FileNotFoundError:
        raise UploadNotFound(f"no upload {upload_id!r}") from None
    return [
        UploadedPart(part_number=number, etag=etag, size=size)
        for number, (_, etag, size) in sorted(current.items())
    ]


def _copy_into(src: int, dst: int, size: int) -> None:
    """Append ``size`` bytes of ``src`` to ``dst``: in the kernel when it can, else by reads."""
    offset = 0
    zero_copy = hasattr(os, "copy_file_range")
    while offset < size:
        count = min(size - offset, 1 << 30)
        if zero_copy:
            try:
                copied = os.copy_file_range(src, dst, count, offset)
            except OSError as exc:
                if exc.errno not in _COPY_FALLBACK_ERRNOS:
                    raise
                zero_copy = False
                continue
        else:
            chunk = os.pread(src, min(count, _CHUNK), offset)
            view = memoryview(chunk)
            while view:
                view = view[os.write(dst, view) :]
            copied = len(chunk)
        if copied == 0:
            raise OSError(errno.EIO, "part file shorter than when it was listed")
        offset += copied


def complete_upload(
    layout: Layout, key: str, upload_id: str, parts: Sequence[UploadedPart], fsync: bool
) -> StoredObject:
    path = _upload_dir(layout, key, upload_id)
    check_parts_order(parts)
    try:
        with _locked(path):
            return _join(layout, path, key, parts, fsync)
    except FileNotFoundError:
        raise UploadNotFound(f"no upload {upload_id!r}") from None


def _join(
    layout: Layout, path: Path, key: str, parts: Sequence[UploadedPart], fsync: bool
) -> StoredObject:
    manifest = orjson.loads((path / "upload.json").read_bytes())
    current = _current_parts(path)
    chosen: list[tuple[Path, str, int]] = []
    for index, part in enumerate(parts):
        found = current.get(part.part_number)
        if found is None or found[1] != part.etag.strip('"'):
            raise InvalidPart(f"part {part.part_number} was not uploaded with that etag")
        if index < len(parts) - 1 and found[2] < MIN_PART_SIZE:
            raise InvalidPart(f"part {part.part_number} is smaller than 5 MiB and not the last")
        chosen.append(found)
    tmp, fh = layout.new_tmp()
    try:
        for file, _, size in chosen:
            src = os.open(file, os.O_RDONLY)
            try:
                _copy_into(src, fh.fileno(), size)
            finally:
                os.close(src)
    except BaseException:
        fh.close()
        tmp.unlink(missing_ok=True)
        raise
    digests = b"".join(bytes.fromhex(etag) for _, etag, _ in chosen)
    etag = f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(chosen)}"
    # copy_file_range moved the kernel's file offset, not Python's buffer: nothing to flush.
    stored = commit(layout, tmp, fh, key, etag, manifest.get("content_type"), fsync)
    _discard(layout, path)
    return stored


def open_append(layout: Layout, key: str, upload_id: str, offset: int) -> int:
    """The upload's growing file, open for writing and locked (``flock``, released when the
    descriptor closes or its process dies), cut to ``offset``: bytes past it were written by
    a request that never recorded them, and are dropped."""
    path = _upload_dir(layout, key, upload_id)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path / _APPEND_FILE, flags, 0o644)
    except FileNotFoundError:
        raise UploadNotFound(f"no upload {upload_id!r}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AppendLocked(f"upload {upload_id!r} has another writer") from None
        size = os.fstat(fd).st_size
        if size < offset:
            # The caller recorded bytes the disk does not have (written without fsync, then
            # an OS crash): resuming would leave a hole, so refuse loudly.
            raise OSError(errno.EIO, f"upload file holds {size} bytes, {offset} were recorded")
        if size > offset:
            os.ftruncate(fd, offset)
    except BaseException:
        os.close(fd)
        raise
    return fd


def complete_append(
    layout: Layout, key: str, upload_id: str, size: int, fsync: bool
) -> StoredObject:
    """Publish the growing file as ``key`` by renaming it (no copy). Its etag is an opaque
    version tag (random, in S3's multipart form ``<hex>-1``): no digest of the bytes is
    computed, as none of an S3 multipart etag is either."""
    path = _upload_dir(layout, key, upload_id)
    try:
        with _locked(path):
            manifest = orjson.loads((path / "upload.json").read_bytes())
            data = path / _APPEND_FILE
            actual = data.stat().st_size
            if actual != size:
                raise InvalidPart(f"upload {upload_id!r} holds {actual} bytes, not {size}")
            # A second name for the same inode: a failed commit removes only the link, never
            # the upload's bytes, so completion can be tried again.
            tmp = layout.tmp / f"{secrets.token_hex(16)}"
            try:
                os.link(data, tmp)
            except FileNotFoundError:
                layout.tmp.mkdir(parents=True, exist_ok=True)
                os.link(data, tmp)
            fh = tmp.open("rb")
            etag = f"{secrets.token_hex(16)}-1"
            stored = commit(layout, tmp, fh, key, etag, manifest.get("content_type"), fsync)
            _discard(layout, path)
    except FileNotFoundError:
        raise UploadNotFound(f"no upload {upload_id!r}") from None
    return stored


def abort_upload(layout: Layout, key: str, upload_id: str) -> None:
    """Drop the upload. Waits for a part write holding the lock; fences off the others."""
    try:
        path = _upload_dir(layout, key, upload_id)
        with _locked(path):
            _discard(layout, path)
    except (UploadNotFound, FileNotFoundError):
        return  # unknown, or dropped meanwhile by another abort, a completion or the sweep


def _discard(layout: Layout, path: Path) -> None:
    """Take the upload directory out of reach of every writer, then remove it. Call it under
    ``_locked(path)``: nothing can land in ``path`` any more once it returns, since every
    writer reaches the upload by that path and nothing recreates it."""
    trash = layout.uploads / _TRASH
    target = trash / f"{path.name}.{secrets.token_hex(4)}"
    try:
        try:
            os.rename(path, target)
        except FileNotFoundError:
            trash.mkdir(exist_ok=True)
            os.rename(path, target)
    except FileNotFoundError:
        return  # gone already
    except OSError:
        target = path  # cannot be moved (lost permissions?): remove it in place
    _remove(target)


def _remove(path: Path) -> None:
    # A file created by a path lookup that began before the rename may still appear in the
    # directory after rmtree listed it; one more pass takes it. The sweep takes any rest.
    for _ in range(3):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return


def _touched_since(path: Path, since: float) -> bool:
    """Whether ``path`` or an entry in it (a growing ``data`` file does not touch its
    directory) was modified at or after ``since``; True once it is gone: nothing to sweep."""
    try:
        if path.stat().st_mtime >= since:
            return True
        with os.scandir(path) as it:
            for entry in it:
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat(follow_symlinks=False).st_mtime >= since:
                        return True
    except FileNotFoundError:
        return True
    return False


def sweep_uploads(layout: Layout, older_than: float) -> int:
    """Remove the uploads nothing was written to since ``older_than`` (a POSIX time), fenced
    as an abort is, and whatever an interrupted removal left in the trash (any age: it is
    garbage by construction). The number of uploads removed."""
    leftovers: list[Path] = []
    with contextlib.suppress(FileNotFoundError), os.scandir(layout.uploads / _TRASH) as it:
        leftovers = [Path(entry.path) for entry in it]
    for leftover in leftovers:
        _remove(leftover)
    try:
        with os.scandir(layout.uploads) as it:
            candidates = [
                Path(entry.path)
                for entry in it
                if _UPLOAD_ID.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
            ]
    except FileNotFoundError:
        return 0
    removed = 0
    for path in candidates:
        if _touched_since(path, older_than):
            continue
        try:
            with _locked(path):
                if not _touched_since(path, older_than):  # no writer came back meanwhile
                    _discard(layout, path)
                    removed += 1
        except FileNotFoundError:
            # No manifest: a creation cut short before writing it (or removed meanwhile).
            if not _touched_since(path, older_than):
                _discard(layout, path)
                removed += 1
    return removed
