"""sqlite-vec in every SQLite connection this process opens. Python's ``sqlite3`` may be built
without ``enable_load_extension`` (pyenv's default build is), so the extension is registered
with SQLite's own ``sqlite3_auto_extension`` in the library that ``_sqlite3`` is linked to: every
connection opened afterwards (by aiosqlite, by the migrations' engine) has ``vec0``."""

from __future__ import annotations

import ctypes
import threading

__all__ = ["SqliteVecMissing", "load_sqlite_vec"]

_lock = threading.Lock()
_loaded = False
# Kept for the life of the process: SQLite calls into it on every new connection.
_library: ctypes.CDLL | None = None


class SqliteVecMissing(RuntimeError):
    """sqlite-vec could not be registered with this Python's SQLite."""


def load_sqlite_vec() -> None:
    """Register sqlite-vec for every SQLite connection opened from now on (once per process)."""
    global _loaded, _library
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        import _sqlite3

        import sqlite_vec

        try:
            # dlsym through _sqlite3's handle finds the SQLite it uses, linked or built in.
            sqlite = ctypes.CDLL(_sqlite3.__file__)
            register = sqlite.sqlite3_auto_extension
            _library = ctypes.CDLL(f"{sqlite_vec.loadable_path()}.so")
            entry = _library.sqlite3_vec_init
        except (OSError, AttributeError) as exc:
            raise SqliteVecMissing(f"sqlite-vec cannot be loaded into this SQLite: {exc}") from exc
        register.argtypes = [ctypes.c_void_p]
        register.restype = ctypes.c_int
        if register(ctypes.cast(entry, ctypes.c_void_p)) != 0:
            raise SqliteVecMissing("sqlite3_auto_extension refused sqlite-vec")
        _loaded = True
