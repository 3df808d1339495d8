"""The SQLite file as the operating system sees it.

Checks before opening (which only read), the file's identity while the
server runs, and SQLite's errors in words an operator can act on.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import stat

from chat.history import StoreFailed

HEADER = b"SQLite format 3\x00"
_LOW_SPACE = 1 << 20
"""Bytes free below which a failed write is put down to a full disk."""

# SQLite's primary result codes for faults of the machine rather than bugs.
_SQLITE_FAULTS = {
    3: "permission denied",  # SQLITE_PERM
    5: "the database is locked by another program",  # SQLITE_BUSY
    8: "the database is read-only",  # SQLITE_READONLY
    10: "the disk failed to read or write the database (I/O error)",  # IOERR
    11: "the database file is damaged (corrupt)",  # SQLITE_CORRUPT
    13: "the disk is full",  # SQLITE_FULL
    14: "the database file cannot be opened",  # SQLITE_CANTOPEN
    22: "the database file is too large",  # SQLITE_NOLFS
    26: "not a SQLite database",  # SQLITE_NOTADB
}
_ERRNO_WORDS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the disk is read-only",
    errno.ENOSPC: "the disk is full",
    errno.ENOTDIR: "a part of the path is not a directory",
}


def os_words(exc: OSError) -> str:
    return _ERRNO_WORDS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()


def check_before_open(path: str) -> None:
    """Raise StoreFailed("<path>: why") if ``path`` cannot be our database.

    Reads at most the first 16 bytes: a file that is not ours is left exactly
    as it was, and SQLite never gets the chance to create -wal/-shm beside it.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise StoreFailed(f"{path}: directory {parent} does not exist") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise StoreFailed(
                f"{path}: cannot create the database in {parent}: permission "
                "denied or read-only"
            ) from None
        return
    except OSError as exc:
        raise StoreFailed(f"{path}: {os_words(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise StoreFailed(f"{path}: is a directory, not a database file")
    if not stat.S_ISREG(info.st_mode):
        raise StoreFailed(f"{path}: not a regular file")
    try:
        # Read-write, as SQLite will need it; opening writes nothing.
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise StoreFailed(
            f"{path}: {os_words(exc)} (the server must read and write it)"
        ) from None
    try:
        header = os.read(fd, len(HEADER))
    finally:
        os.close(fd)
    if header and header != HEADER:  # empty is a new database, as for SQLite
        raise StoreFailed(f"{path}: not a SQLite database")


def lock(path: str) -> int:
    """Hold the database for this process: the descriptor of an exclusive lock.

    Two servers on one file would hand out the same ids: each keeps its
    rooms' last ids in memory. flock, not SQLite's own POSIX locks, which it
    takes and drops per transaction; the two kinds do not interact on Linux.
    Close the descriptor only after SQLite has closed the file: closing any
    descriptor of a file drops the process's POSIX locks on it.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreFailed(f"{path}: {os_words(exc)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StoreFailed(f"{path}: cannot be locked: {os_words(exc)}") from None
        raise StoreFailed(
            f"{path}: in use by another server process (one database file serves "
            "one process; run several with --redis-url)"
        ) from None
    return fd


def describe(exc: BaseException, path: str) -> str | None:
    """``exc`` in words if the machine is at fault; None if it is a bug."""
    if isinstance(exc, OSError):
        return os_words(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    words = _SQLITE_FAULTS.get(code & 0xFF)
    if words is not None and code & 0xFF in (8, 10) and path:
        # SQLite reports a write refused by the system as an I/O error;
        # the file system can tell which refusal it was.
        words = _diagnose(path) or words
    return words


def _diagnose(path: str) -> str | None:
    try:
        disk = os.statvfs(os.path.dirname(os.path.abspath(path)))
        if disk.f_flag & os.ST_RDONLY:
            return "the disk is read-only"
        if disk.f_bavail * disk.f_frsize < _LOW_SPACE:
            return "the disk is full"
        for name in (path, path + "-wal"):
            # False for an immutable file even as root.
            if os.path.exists(name) and not os.access(name, os.W_OK):
                return "the database file is read-only"
    except OSError:
        pass
    return None


class FileWatch:
    """Whether ``path`` and its WAL still lead to the files SQLite has open.

    SQLite keeps both open for the connection's lifetime, so their inodes
    cannot be freed and reused meanwhile: (st_dev, st_ino) taken just after
    opening identify them until close. Checking costs two stat calls.
    """

    def __init__(self, path: str) -> None:
        self._ids: list[tuple[str, str, tuple[int, int]]] = []
        for name, what in (
            (path, "the database file"),
            (path + "-wal", "its WAL file"),
        ):
            try:
                info = os.stat(name)
            except FileNotFoundError:
                continue  # not expected once in WAL mode; nothing to watch
            self._ids.append((name, what, (info.st_dev, info.st_ino)))

    def gone(self) -> str | None:
        """None, or what happened to the file, for a person."""
        for name, what, identity in self._ids:
            try:
                info = os.stat(name)
            except (FileNotFoundError, NotADirectoryError):
                return f"{what} was removed or moved away while the server ran"
            if (info.st_dev, info.st_ino) != identity:
                return f"{what} was replaced by another file while the server ran"
        return None
