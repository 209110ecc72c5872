"""Atomic file writing: a temporary file beside the target, renamed over it only on success.

Every writer in the project goes through here, so a crash never leaves a half-written file; and every
file and folder it makes is remembered, so a command that fails can remove what it made
(`discard_created`), except what it chose to keep for a later run (`keep`: a resumable run folder, a cache)."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import numpy as np

from errors import UserError

_made_files: list[Path] = []  # files and folders this process made that did not exist before, in order
_made_folders: list[tuple[Path, bool]] = []  # (folder, whole: made as a unit by atomic_folder)
_kept: list[Path] = []
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # the disk or a quota is full, or the file too large


def make_folders(path: Path | str, whole: bool = False) -> Path:
    """`mkdir -p`, remembering each folder it made; with `whole`, `path` itself (if made here) is removed with
    everything in it after a failure (a library's folder, which we cannot empty file by file)."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    _made_folders.extend((folder, whole and folder == path) for folder in reversed(missing))
    return path


def made_file(path: Path) -> None:
    """Remember a file made outside `atomic_path` (a lock file)."""
    _made_files.append(Path(path))


def keep(path: Path | str) -> None:
    """Files and folders under `path` stay when the command fails (made for a later run to use)."""
    _kept.append(Path(path).absolute())


def discard_created() -> None:
    """After a failed command: remove the files it made, the folders `atomic_folder` made, and the folders
    `make_folders` made once nothing is left in them; never what `keep` names, nor anything under it."""
    def under_kept(path: Path) -> bool:
        return any(path.absolute() == k or k in path.absolute().parents for k in _kept)

    for path in reversed(_made_files):
        if not under_kept(path):
            with suppress(FileNotFoundError):
                os.remove(path)
    for folder, whole in reversed(_made_folders):
        if under_kept(folder):
            continue
        if whole and not any(folder.absolute() in k.parents for k in _kept):
            shutil.rmtree(folder, ignore_errors=True)
        else:
            with suppress(OSError):
                folder.rmdir()
    for made in (_made_files, _made_folders, _kept):
        made.clear()


def forget_created() -> None:
    """After a command succeeded: nothing it made is to be removed."""
    for made in (_made_files, _made_folders, _kept):
        made.clear()


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    path = check_target(path)
    make_folders(path.parent)
    existed = path.exists()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())  # the mode a plain open() gives (mkstemp's, and some writers', is 0600)
        os.replace(tmp, path)
        if not existed:
            _made_files.append(path)
    except OSError as err:
        if err.errno in FULL and not err.filename:  # a write through a handle: name the output it was for
            raise OSError(err.errno, os.strerror(err.errno), str(path)) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_paths(*paths: Path | str) -> Iterator[list[Path]]:
    """`atomic_path` for outputs that belong together (weights and their sidecar): temporary paths for all, renamed
    into place one after the other only if the block succeeds, with SIGTERM and SIGINT held back meanwhile, so a
    signal leaves all of them new or all of them as they were."""
    with ExitStack() as stack:
        temps = [stack.enter_context(atomic_path(path)) for path in paths]
        yield temps
        with signals_held():
            stack.close()  # every rename


HELD_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT recorded rather than handled while the block runs, then handed to the handlers that were
    in place (whichever thread the kernel delivered them to). Outside the main thread nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[tuple[int, object]] = []
    previous = {number: signal.signal(number, lambda *received: pending.append(received)) for number in HELD_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number, frame in pending:
            handler = previous[number]
            if callable(handler):
                handler(number, frame)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), number)


@contextmanager
def atomic_folder(path: Path | str, command: str) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; only if the block succeeds it replaces `path` (which must be
    absent, empty or made by an earlier run of `command`: a marker beside it says so), else it is removed."""
    path = Path(path)
    claimable_folder(path, command, str(path), beside=True)
    make_folders(path.parent)
    existed = path.exists()
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~current_umask())
    try:
        yield tmp
        write_marker(path, command, beside=True)
        old = tmp.with_suffix(".old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        if old.is_symlink():  # the output was a link: it is replaced as a link, never followed
            old.unlink()
        else:
            shutil.rmtree(old, ignore_errors=True)
        if not existed:
            _made_folders.append((path, True))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_target(path: Path | str) -> Path:
    """Refuse, before any work, a target that is a folder or another non-regular file (a device, a FIFO, a
    socket: the rename would replace it), or whose path runs through a file."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder: name a file to write")
    if path.exists() and not path.is_file():
        raise UserError(f"{path} is not a regular file (a device, FIFO or socket): name a file to write")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise UserError(f"cannot write {path}: {blocking} is a file, not a folder")
    return path


def refuse_input_as_output(out: Path | str, inputs: list[Path | str], option: str) -> Path:
    """An output may not be one of the command's own inputs (it would be replaced before it is read), nor lie
    inside an input folder (test images, a data root, a member's run folder)."""
    out = Path(out)
    target, exists = out.resolve(), out.exists()
    for source in map(Path, inputs):
        if source.is_dir() and target.is_relative_to(source.resolve()):
            raise UserError(f"{option} {out} lies inside {source}, an input of this command: write it elsewhere")
        if exists and source.exists() and os.path.samefile(source, out):
            raise UserError(f"{option} {out} is also an input of this command: write the output elsewhere")
    return out


def marker_path(folder: Path, command: str, beside: bool = False) -> Path:
    """The file saying `command` made `folder`: inside it, or beside it for folders users hand on as they
    are (PNG masks beside a submission)."""
    return folder.parent / f".{folder.name}.segzoo-{command}" if beside else folder / f".segzoo-{command}"


def claimable_folder(path: Path | str, command: str, option: str, beside: bool = False) -> bool:
    """Refuse, before any work, a folder `command` may not write into: a file, or a non-empty folder an
    earlier run of `command` did not make. True when such an earlier run made it (its marker is there)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file (or a device or FIFO), not a folder: name a folder")
    if marker_path(path, command, beside).is_file():
        return True
    if path.is_dir() and any(path.iterdir()):
        raise UserError(f"{option} {path} exists and was not made by {command}: name a new or empty folder")
    return False


def mark_folder(path: Path | str, command: str, beside: bool = False) -> None:
    """Create `path` and mark it as `command`'s, so a later run of `command` may write into it again."""
    make_folders(path)
    write_marker(Path(path), command, beside)


def write_marker(folder: Path, command: str, beside: bool = False) -> None:
    write_text(marker_path(folder, command, beside), f"made by cli.py {command}; it may write here again\n")


def write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_array(path: Path | str, array: np.ndarray) -> None:
    """`np.save` to exactly `path` (no `.npy` appended), atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
