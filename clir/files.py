"""File helpers every writer shares: one checksum and one way to put a finished directory in place."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import shutil
from pathlib import Path
from typing import IO

from clir.errors import ConfigError

_CHUNK = 1 << 20


def update_sha256(digest: hashlib._Hash, path: Path) -> None:
    """Feed a file's bytes into `digest` (large files in 1 MiB blocks)."""
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    update_sha256(digest, path)
    return digest.hexdigest()


def check_replaceable(out: Path) -> None:
    """ConfigError, in one line naming the path and the fix, where `out` cannot be written as an index is
    written: a folder replaced by renaming a finished one beside it, with the writer lock beside it too. A
    mount point cannot be renamed, and the folder holding `out` must be writable."""
    out = Path(out).resolve()
    if out.is_dir() and os.path.ismount(out):
        raise ConfigError(f"{out} is a mount point: an index is replaced by renaming a finished folder into its "
                          f"place, which a mount point cannot be; use a folder inside it (e.g. {out / 'current'})")
    home = next((p for p in (out.parent, *out.parent.parents) if p.exists()), None)
    if home is not None and not os.access(home, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write to {home} (user id {os.getuid()}): the index {out} keeps its writer lock "
                          f"and builds beside it there; use an index path in a folder this user can write, or "
                          f"give this user that folder")


def _unwritable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(f"cannot write {path} (user id {os.getuid()}): {exc.strerror}; use an index path in a "
                       "folder this user can write, or give this user that folder")


def scratch_dir(out: Path, tag: str) -> Path:
    """A fresh directory beside `out` (same filesystem, so the final rename is atomic), named
    `.NAME.TAG`; anything left there by an earlier run with the same tag is removed first."""
    tmp = out.parent / f".{out.name}.{tag}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()  # mkdir (not mkdtemp) honours the umask
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise _unwritable(tmp, exc) from None
    return tmp


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange_dirs(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the system
    cannot, so the caller falls back."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def recover(out: Path) -> None:
    """Put right what killed writers left beside `out` (scratch directories `.NAME.TAG-PID`: builds,
    compactions, old indexes moved aside). Where `out` is missing because a writer was killed between
    moving the old index aside and moving the new one in, the old one is put back; everything else is
    removed. The caller holds the writer lock, so no live writer owns any of them (a process ID says
    nothing across containers that share the volume; the lock does)."""
    leftovers = [p for p in out.parent.glob(f".{out.name}.*-*") if p.is_dir()]
    if not out.exists():
        old = sorted(p for p in leftovers if p.name.startswith(f".{out.name}.old-")
                     and (p / "manifest.json").is_file())
        if old:
            old[0].rename(out)
            leftovers.remove(old[0])
    for tmp in leftovers:
        shutil.rmtree(tmp, ignore_errors=True)


def recover_unlocked(out: Path) -> bool:
    """`recover`, for a reader (a server starting): only when no writer holds the index, and never an
    error (on a read-only file system it cannot run). True when it ran."""
    if not Path(out).parent.is_dir():
        return False
    lock = WriterLock(out, "clir serve (recovering)")
    try:
        lock.acquire()
    except (ConfigError, OSError):
        return False
    try:
        recover(Path(out).resolve())
    finally:
        lock.release()
    return True


def install_dir(tmp: Path, out: Path) -> None:
    """Move the finished directory `tmp` to `out`, replacing what is there only now. Where the system
    can, the old and new directories are exchanged in one atomic step, so `out` always holds one of
    them whatever happens; the old one then sits at `tmp` until it is removed. Elsewhere the old one is
    renamed aside first, and put back if the second rename fails."""
    if not out.exists():
        tmp.rename(out)
        return
    if exchange_dirs(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def index_of(lock_path: Path) -> Path:
    return lock_path.parent / lock_path.name[1 : -len(".lock")]


class WriterLock:
    """The single-writer lock of an index: an exclusive `flock` on `.NAME.lock` beside it, held for as
    long as the owner lives (a killed process releases it). Builds, compactions, CLI writes and writable
    servers take it; the lock file says who holds it."""

    def __init__(self, index: Path, owner: str) -> None:
        index = Path(index).resolve()
        self.path = index.parent / f".{index.name}.lock"
        self._file: IO[str] | None = None
        self.owner = owner

    def acquire(self) -> None:
        check_replaceable(index_of(self.path))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            raise _unwritable(self.path, exc) from None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise ConfigError(f"{index_of(self.path)} is held by {holder}: one writer at a time (a writable "
                              "server takes writes over HTTP: PUT/POST/DELETE /documents)") from None
        f.truncate(0)
        f.write(f"{self.owner} (pid {os.getpid()})")
        f.flush()
        self._file = f

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            self._file.truncate(0)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
