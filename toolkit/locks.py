"""One writer per directory: a lock file that names the process holding it.

A run that writes a directory (train-shadownet's ``--model-dir``, gen-images' ``--output-dir``)
holds :class:`DirectoryLock` on it for as long as it writes. The lock is a small JSON file,
``<directory>/.crnn-toolkit.lock``, created with ``O_CREAT | O_EXCL`` (so of two runs that start
at once exactly one gets it) and holding the owner: host name, PID, start time, command line, what
it is doing, and, on Linux, the boot id and the process's start time in clock ticks (from
``/proc``), which tell a live owner from a dead one whose PID was reused.

A second run on the same directory:

- owner alive (same host, PID running, same process start time): refused with
  :class:`DirectoryInUseError`, whose message names the owner;
- owner dead (same host, no such PID, a zombie, another process under that PID, or the machine
  rebooted since): the stale lock is taken over with a warning. A takeover guard file
  (``.crnn-toolkit.lock.takeover``, also ``O_EXCL``) makes sure that of two runs that find the same
  stale lock only one removes it;
- owner on another host: its liveness cannot be checked from here, so the run is refused; the
  message says which file to delete if that run is gone.

Readers (test-shadownet, demo, export, verify) take no lock. The lock is advisory: it binds only
programs that take it, and on network filesystems it is as atomic as their ``O_EXCL`` (NFS v3 and
later: atomic).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing.Self is Python 3.11+
    from typing import Self

logger = logging.getLogger(__name__)

LOCK_FILE = ".crnn-toolkit.lock"
"""Name of the lock file inside the locked directory."""

UNREADABLE_GRACE_S = 2.0
"""A lock file with no readable owner younger than this (seconds) is being written: wait; older,
its writer died between creating and filling it, and the lock is stale."""

GUARD_STALE_S = 10.0
"""A takeover guard older than this (seconds) was left by a run that died while taking over (a
takeover takes milliseconds) and is removed."""

ACQUIRE_PATIENCE_S = 30.0
"""How long (seconds) :meth:`DirectoryLock.acquire` keeps retrying while another run is taking
over a stale lock or writing a fresh one, before it gives up."""


class DirectoryInUseError(OSError):
    """Another run holds the directory's lock (or it cannot be told whether that run is gone).

    Attributes:
        path: the lock file.
        owner: the :class:`LockOwner` read from it, or ``None`` if it was unreadable.
    """

    def __init__(self, message: str, path: Path, owner: LockOwner | None):
        super().__init__(message)
        self.path = path
        self.owner = owner


@dataclass(frozen=True)
class LockOwner:
    """What a lock file says about the process that holds it.

    Attributes:
        host: ``socket.gethostname()`` of the owner.
        pid: its process id.
        started: when it took the lock, seconds since the epoch.
        command: its command line (shell-quoted, at most 500 chars).
        purpose: what it is doing, e.g. ``"train-shadownet"``.
        token: a random id of this lock, so an owner removes only its own lock file.
        boot_id: ``/proc/sys/kernel/random/boot_id`` of the owner's machine, or ``""``.
        process_start: the owner's start time in clock ticks since boot (field 22 of
            ``/proc/<pid>/stat``), or ``None`` off Linux.
    """

    host: str
    pid: int
    started: float
    command: str
    purpose: str
    token: str
    boot_id: str = ""
    process_start: int | None = None

    @classmethod
    def of_this_process(cls, purpose: str) -> LockOwner:
        """The owner record of the calling process."""
        command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
        return cls(host=socket.gethostname(), pid=os.getpid(), started=time.time(),
                   command=command[:500], purpose=purpose, token=uuid.uuid4().hex,
                   boot_id=_boot_id(), process_start=_process_start(os.getpid()))

    @classmethod
    def from_json(cls, text: str) -> LockOwner:
        """Parse a lock file's text.

        Raises:
            ValueError: if it is not the JSON object :meth:`to_json` writes.
        """
        obj = json.loads(text)
        try:
            return cls(host=str(obj["host"]), pid=int(obj["pid"]), started=float(obj["started"]),
                       command=str(obj.get("command", "")), purpose=str(obj.get("purpose", "")),
                       token=str(obj["token"]), boot_id=str(obj.get("boot_id", "")),
                       process_start=(None if obj.get("process_start") is None
                                      else int(obj["process_start"])))
        except (KeyError, TypeError, ValueError) as e:  # TypeError: not a JSON object
            raise ValueError(f"not a lock file's JSON object ({e!r}): {text[:100]!r}") from None

    def to_json(self) -> str:
        """The lock file's text (one JSON object)."""
        return json.dumps(asdict(self), ensure_ascii=False) + "\n"

    def describe(self) -> str:
        """``train-shadownet (pid 123 on host h, started 2026-12-01 10:00:00 +0000, command:
        ...)``, for messages."""
        started = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(self.started))
        return (f"{self.purpose or 'a run'} (pid {self.pid} on host {self.host}, started "
                f"{started}, command: {self.command})")

    def is_dead(self) -> bool:
        """True only if the owner is certainly gone: it ran on this host and its PID is free, a
        zombie, another process's (different start time), or from before this machine's last
        boot. False for a live owner and for an owner on another host."""
        if self.host != socket.gethostname():
            return False
        boot = _boot_id()
        if self.boot_id and boot and self.boot_id != boot:
            return True
        if not _pid_running(self.pid):
            return True
        now_start = _process_start(self.pid)
        return (self.process_start is not None and now_start is not None
                and now_start != self.process_start)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (after the command name, which may hold spaces), or
    ``None`` off Linux or for no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def _process_start(pid: int) -> int | None:
    fields = _proc_stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22: starttime
    except (IndexError, ValueError):
        return None


def _pid_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    fields = _proc_stat_fields(pid)
    return not (fields and fields[0] in ("Z", "X"))  # a zombie has ended


class DirectoryLock:
    """An exclusive, advisory lock on a directory, held by this process while it writes there.

    Use as a context manager (``with DirectoryLock(model_dir, "train-shadownet"):``) or call
    :meth:`acquire` and :meth:`release`. See the module docstring for how a second run is treated.

    Args:
        directory: the directory to lock; created (with parents) if missing.
        purpose: what the holder does, shown to a refused run (e.g. ``"train-shadownet"``).
    """

    def __init__(self, directory: str | os.PathLike, purpose: str):
        self.directory = Path(directory)
        self.purpose = purpose
        self.path = self.directory / LOCK_FILE
        self.owner: LockOwner | None = None

    @property
    def held(self) -> bool:
        """True between a successful :meth:`acquire` and :meth:`release`."""
        return self.owner is not None

    def acquire(self) -> Self:
        """Take the lock, taking over a stale one (logged as a warning).

        Returns:
            ``self``.

        Raises:
            DirectoryInUseError: if a live process holds it, or one on another host, or (after
                :data:`ACQUIRE_PATIENCE_S` seconds) other runs keep it changing hands.
            RuntimeError: if this object already holds it.
            OSError: if the directory cannot be created or written.
        """
        if self.held:
            raise RuntimeError(f"{self.path}: already held by this DirectoryLock")
        self.directory.mkdir(parents=True, exist_ok=True)
        me = LockOwner.of_this_process(self.purpose)
        deadline = time.monotonic() + ACQUIRE_PATIENCE_S
        while True:
            if self._create(me):
                self.owner = me
                logger.debug("%s: locked by pid %d", self.directory, me.pid)
                return self
            text, owner = self._read()
            if text is None:  # removed since: try again at once
                continue
            if owner is None and self._age() < UNREADABLE_GRACE_S:
                pass  # being written by its creator
            elif owner is not None and not owner.is_dead():
                raise DirectoryInUseError(self._in_use_message(owner), self.path, owner)
            elif self._take_over(text, owner):
                continue
            if time.monotonic() > deadline:
                raise DirectoryInUseError(
                    f"{self.directory}: could not take its lock within {ACQUIRE_PATIENCE_S:.0f} s "
                    f"(other runs keep taking it over); if no other run uses it, delete "
                    f"{self.path}", self.path, owner)
            time.sleep(0.05)

    def release(self) -> None:
        """Remove the lock file if it is still this lock's (nothing if not held)."""
        if self.owner is None:
            return
        _, owner = self._read()
        if owner is not None and owner.token == self.owner.token:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        else:
            logger.warning("%s: the lock was taken over by %s while this run held it; left as it "
                           "is", self.directory,
                           owner.describe() if owner else "another run")
        self.owner = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def _create(self, me: LockOwner) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, me.to_json().encode("utf-8"))
        finally:
            os.close(fd)
        return True

    def _read(self) -> tuple[str | None, LockOwner | None]:
        """``(text, owner)`` of the lock file: ``(None, None)`` if it is gone, ``(text, None)``
        if it holds no readable owner."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None, None
        try:
            return text, LockOwner.from_json(text)
        except ValueError:
            return text, None

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _take_over(self, stale_text: str, owner: LockOwner | None) -> bool:
        """Remove the stale lock file if it still holds ``stale_text``; True if removed (or
        already gone), False if another run is taking it over right now."""
        guard = self.path.with_name(LOCK_FILE + ".takeover")
        try:
            os.close(os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            try:
                if time.time() - guard.stat().st_mtime > GUARD_STALE_S:
                    guard.unlink()
            except FileNotFoundError:
                pass
            return False
        try:
            text, _ = self._read()
            if text != stale_text:  # taken over (or released) by someone else meanwhile
                return True
            what = (owner.describe() if owner is not None
                    else "a run that died before writing its owner")
            logger.warning("%s: taking over the lock of %s: that process is no longer running",
                           self.directory, what)
            self.path.unlink()
            return True
        finally:
            guard.unlink()

    def _in_use_message(self, owner: LockOwner) -> str:
        message = (f"{self.directory} is in use by {owner.describe()}; wait for it to finish or "
                   f"write to another directory")
        if owner.host != socket.gethostname():
            message += (f" (a process on host {owner.host} cannot be checked from "
                        f"{socket.gethostname()}: if that run is gone, delete {self.path})")
        return message
