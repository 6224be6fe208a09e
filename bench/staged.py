"""Output folders written whole or not at all.

A command's files (a report, a comparison, a COCO export) are written into a hidden staging folder
first and moved into place once all of them are written, so a failure part-way (a full disk,
Ctrl-C, an error) leaves the destination as it was: an old report keeps every file whole, and a new
export folder is not created. Moving is renaming within one file system, which needs no space.
A staging folder left by a killed process (its name holds its process id) is removed by the next
command that stages into the same place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from landscapes.errors import InputError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _remove_stale(where: Path, prefix: str) -> None:
    """Staging folders under ``where`` named ``prefix`` + pid + "." whose process has ended."""
    try:
        entries = list(where.iterdir())
    except OSError:
        return
    for entry in entries:
        rest = entry.name[len(prefix):] if entry.name.startswith(prefix) else ""
        pid = rest.partition(".")[0]
        if pid.isdigit() and entry.is_dir() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _namesake_of_other_kind(source: Path, target: Path) -> tuple[Path, str] | None:
    """The first path under ``target`` that is a folder where ``source`` has a file of its name, or
    the other way round (with what ``source`` has there), else None."""
    for entry in source.iterdir():
        destination = target / entry.name
        if entry.is_dir() and destination.is_dir():
            found = _namesake_of_other_kind(entry, destination)
            if found:
                return found
        elif entry.is_dir() and os.path.lexists(destination):
            return destination, "folder"
        elif not entry.is_dir() and destination.is_dir():
            return destination, "file"
    return None


def _check_namesakes(source: Path, target: Path) -> None:
    """Refuse in one line, before anything moves, a namesake of the other kind in ``target``: a
    folder of the user's would be removed to make way for a file, and a file where a folder goes
    would stop the move half-way."""
    found = _namesake_of_other_kind(source, target)
    if found:
        path, kind = found
        raise InputError(f"{str(path)!r} is in the way: the new files have a {kind} of that name there;"
                         " move it away, or write to another folder")


def _move_into(source: Path, target: Path) -> None:
    """Every file under ``source`` to the same place under ``target``, replacing what is there."""
    for entry in source.iterdir():
        destination = target / entry.name
        if entry.is_dir() and destination.is_dir():
            _move_into(entry, destination)
            entry.rmdir()
        else:
            if destination.is_dir():
                shutil.rmtree(destination)
            os.replace(entry, destination)


def _prefix(out: Path) -> str:
    """The start of the names of staging folders for ``out``; the name's first 100 characters: a
    staging folder's name is 25 longer, and names end at 255."""
    return f".{out.resolve().name[:100]}.staging-"


def remove_stale_staging(out: str | os.PathLike) -> None:
    """The staging folders killed commands left for ``out`` (a folder that holds nothing else
    counts as empty again)."""
    out = Path(out)
    if out.is_dir():
        _remove_stale(out, _prefix(out))


@contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """A staging folder for files meant for ``out``; on leaving the block without an error they
    replace their namesakes in ``out`` (files of ``out`` the block did not write stay). On an error
    the staging folder is removed and ``out`` is left as it was (not created, when it did not
    exist). The staging folder lies inside ``out`` when ``out`` exists (it may be "." or a shell's
    working folder, which a rename would leave standing in a removed folder), else beside it."""
    out = Path(out)
    existing = out.exists()
    where = out if existing else out.parent
    created = [p for p in [where, *where.parents] if not p.exists()]  # deepest first
    prefix = _prefix(out)
    where.mkdir(parents=True, exist_ok=True)
    _remove_stale(where, prefix)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}.", dir=where))
    except BaseException:
        _remove_created(created)
        raise
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # as a folder made with mkdir, not mkdtemp's 0700
        yield staging
        if not existing:
            try:
                staging.rename(out)
            except OSError:
                if not out.is_dir():
                    raise
                existing = True  # another command's output took the place meanwhile: fill it
        if existing:
            _check_namesakes(staging, out)
            _move_into(staging, out)
            staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_created(created)
        raise


def _remove_created(folders: list[Path]) -> None:
    """The folders this command made for its output, deepest first, while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
