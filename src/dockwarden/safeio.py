"""One safe way to open inputs and one safe way to write outputs.

Every file dockwarden reads may be planted by an attacker (a Dockerfile in someone
else's repository, a blob of an OCI layout, an ignore or VEX file handed over in CI), and
dockwarden often runs as root. So every reader opens its input through `open_input` /
`read_input`:

- only a regular file is read: a FIFO (which would hang), a device (`/dev/zero` would
  read forever), a socket or a directory given as a file is a clear `InputError` (exit 2);
  the file is opened with O_NONBLOCK so that opening a FIFO never blocks, and checked with
  `fstat` on the open descriptor, so it cannot be swapped between check and use;
- a size cap: a file larger than `max_bytes` is refused, never read in part silently;
- with `root`, a path whose real location leaves `root` (a symlink out of a scanned
  repository or an OCI layout) is refused: `/etc/shadow` behind `sub/Dockerfile` is
  never read, so its content can never be echoed.

Every report, SBOM or export is written by `write_output`: to a random, exclusively
created temporary file in the target's directory, flushed, fsynced and renamed over the
target, so a planted symlink at a predictable temporary name cannot redirect the write and
a crash never leaves half a report. When the target is a character device or a FIFO (or
`-`), it is written directly, as a shell redirect would: `-o /dev/stdout` as root never
replaces the device with a regular file.

Lock and cache files are created by `open_private` (O_NOFOLLOW, mode 0600) in directories
made by `private_dir` (mode 0700 whatever the umask).

Written by hand: the checks are a few system calls; no library combines them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO

from dockwarden.errors import InputError
from dockwarden.sanitize import clean

DEFAULT_MAX = 64 << 20  # an input file larger than this is refused unless a caller says


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def human(size: int) -> str:
    """A size as people write it: 1 MiB, 64 KiB, 1.5 GiB, 300 bytes."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            value = size / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def within(root: str, path: str) -> bool:
    """True when `path`, all symlinks resolved, is `root` or below it (also resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def open_input(path: str | os.PathLike[str], *, what: str = "file",
               max_bytes: int | None = DEFAULT_MAX, root: str | None = None) -> BinaryIO:
    """`path` opened for binary reading, after the checks above. Errors are
    `InputError`s that name the path (cleaned) and say what is wrong, never its content."""
    name = os.fspath(path)
    shown = clean(name)
    if root is not None and not within(root, name):
        raise InputError(f"{what} {shown} is a symlink that leaves {clean(root)}: not read")
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened non-blocking for writing
            raise InputError(f"{what} {shown}: not a regular file") from None
        raise InputError(f"cannot read {what} {shown}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{what} {shown} is {_kind(st.st_mode)}, not a regular file")
        if max_bytes is not None and st.st_size > max_bytes:
            raise InputError(f"{what} {shown} is larger than {human(max_bytes)} "
                             f"({human(st.st_size)}): not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_input(path: str | os.PathLike[str], *, what: str = "file",
               max_bytes: int | None = DEFAULT_MAX, root: str | None = None) -> bytes:
    """The whole content of `path`, read through `open_input` (the cap also holds when
    the file grows while it is read)."""
    with open_input(path, what=what, max_bytes=max_bytes, root=root) as fh:
        data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise InputError(f"{what} {clean(os.fspath(path))} is larger than "
                         f"{human(max_bytes)}: not read")
    return data


def read_text(path: str | os.PathLike[str], *, what: str = "file",
              max_bytes: int | None = DEFAULT_MAX, root: str | None = None) -> str:
    """`read_input` decoded as UTF-8 (a BOM dropped); invalid bytes are an InputError."""
    data = read_input(path, what=what, max_bytes=max_bytes, root=root)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {clean(os.fspath(path))} is not UTF-8 text "
                         f"(byte {exc.start})") from None


def walk_files(root: str, *, skip_dirs: tuple[str, ...] = (".git", "node_modules", ".venv"),
               ) -> Iterator[tuple[str, str | None]]:
    """Every file under `root`, sorted, as (path, None), or (path, why) for an entry that
    is not read: a symlink whose target leaves `root`, or something that is not a regular
    file. Directory symlinks are not followed (no loops, no escape)."""
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
        for name in sorted(files):
            path = os.path.join(base, name)
            try:
                st = os.stat(path)
            except OSError as exc:
                yield path, f"cannot read: {exc.strerror}"
                continue
            if os.path.islink(path) and not within(root, path):
                yield path, f"symlink that leaves {clean(root)}: not read"
            elif not stat.S_ISREG(st.st_mode):
                yield path, f"{_kind(st.st_mode)}: not read"
            else:
                yield path, None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _direct(path: str) -> bool:
    """True for a target written in place: a character device or a FIFO."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def write_output(path: str | None, content: str | bytes) -> None:
    """Write a report to `path` (None or `-`: standard output) as described above.
    Errors are `InputError`s (exit 2) naming the path; no temporary file is left."""
    if not path or path == "-":
        if isinstance(content, str):
            sys.stdout.write(content)
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    data = content.encode("utf-8", "backslashreplace") if isinstance(content, str) else content
    shown = clean(path)
    if _direct(path):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise InputError(f"cannot write {shown}: {exc.strerror}") from None
        return
    directory = os.path.dirname(os.path.abspath(path))
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write {shown}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {shown}: {exc.strerror}") from None
        raise


def private_dir(path: str) -> str:
    """`path` as a directory of mode 0700 owned by us, made (with its parents) if absent.
    A symlink or a non-directory there is an InputError."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise InputError(f"cannot create directory {clean(path)}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{clean(path)} is not a directory")
    if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.geteuid():
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
    return path


def open_private(path: str, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """A file descriptor for a lock, cache or partial-download file: never through a
    symlink (O_NOFOLLOW), created with mode 0600 whatever the umask."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{clean(path)} is a symlink: refused") from None
        raise InputError(f"cannot open {clean(path)}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{clean(path)} is {_kind(st.st_mode)}, not a regular file")
        if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd
