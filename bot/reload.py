"""Reload only what changed (issue 15): `run` and `tick` load the campaign folder every minute.

Parsing 10,000 stories took 1.8 s of CPU a tick although nothing had changed. The loader now keeps,
per workspace, what each file gave the last time (a parsed story, a validated YAML file, with its
problems) together with the *stamps* it depended on: the file's size, modification and change times
and inode, and those of every photo or banner asset it names. A file whose stamps are unchanged is not
read again; one whose stamps changed but whose bytes hash the same (a ``touch``, a save without edits)
is not parsed again. When no watched file changed at all (:meth:`Reloader.unchanged`), the previous
result — the Campaign, or the problems of a broken folder — is returned as it is.

Stamps have a granularity (the kernel's clock tick): a file rewritten with the same size within that
tick keeps its stamp. As git does for its index ("racy clean" entries), a file whose modification time
is within :data:`RACY_NS` of the moment it was read is never trusted on its stamp alone: it is hashed
again at each load until it is older than that.

What is watched: every non-hidden file under ``config/``, ``schedules/``, ``banners/`` and ``content/``
(their names and stamps: an added, deleted or renamed file changes the listing), plus any file a
story or template names outside those listings. Nothing here decides what is valid: that stays in
bot.load, which this module only spares from repeating itself.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (size, mtime_ns, ctime_ns, inode); None: missing or not a regular file
Stamp = tuple[int, int, int, int]
RACY_NS = 2_000_000_000  # a file modified less than 2 s before it was read is hashed again next time
WATCHED = ("config", "schedules", "banners", "content")
WORKSPACES_KEPT = 4  # reloaders kept per process (tests and the demo load several folders)


def stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def stat_stamp(path: Path | str) -> Stamp | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return stamp_of(st) if _is_regular(st) else None


def _is_regular(st: os.stat_result) -> bool:
    import stat as S

    return S.S_ISREG(st.st_mode)


def walk(root: Path) -> list[tuple[str, Stamp]]:
    """Every non-hidden regular file under ``root`` with its stamp (in no particular order)."""
    return list(iter_walk(root))


def iter_walk(root: Path) -> Iterator[tuple[str, Stamp]]:
    """:func:`walk`, one file at a time.

    Symlinked folders are not entered and symlinked files are followed — what ``Path.glob("**")`` does
    in Python 3.11, so the loader and this listing always see the same files."""
    todo = [str(root)]
    while todo:
        folder = todo.pop()
        try:
            it = os.scandir(folder)
        except OSError:
            continue
        with it:
            for entry in it:  # one entry at a time: a folder of 10,000 stories is not held in memory
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
                        continue
                    st = entry.stat()  # follows a symlinked file, like Path.is_file()
                except OSError:
                    continue
                if _is_regular(st):
                    yield entry.path, stamp_of(st)


@dataclass
class Scan:
    """The watched files of a workspace at one moment: path → stamp, and when the listing began."""

    files: dict[str, Stamp]
    roots: dict[str, list[str]]  # watched folder name → its files (absolute, in no particular order)
    started_ns: int
    top: str = ""  # the workspace, with a trailing separator

    @classmethod
    def take(cls, workspace: Path) -> Scan:
        started = time.time_ns()
        files: dict[str, Stamp] = {}
        roots: dict[str, list[str]] = {}
        for name in WATCHED:
            listed = walk(workspace / name)
            roots[name] = [p for p, _ in listed]
            files.update(listed)
        return cls(files, roots, started, str(workspace) + os.sep)

    def names(self, name: str, suffix: str = "", recursive: bool = True) -> list[str]:
        """The files of a watched folder (with this suffix; in sub-folders too if ``recursive``), relative
        to the workspace ("content/a/b.md"), in the loader's order: ``sorted(folder.glob("**/*.md"))`` or
        ``sorted(folder.glob("*.yaml"))`` (paths compare part by part). Plain strings: at 10,000 stories
        making a Path of each costs more than the rest of a reload."""
        listed = self.roots.get(name, [])
        cut = len(self.top)
        rels = [p[cut:] for p in listed
                if p.endswith(suffix) and (recursive or p.count(os.sep, cut) == 1)]
        if os.sep != "/":  # pragma: no cover - posix only in practice
            rels = [r.replace(os.sep, "/") for r in rels]
        rels.sort(key=lambda r: r.split("/"))
        return rels

    def under(self, workspace: Path, name: str, suffix: str = "", recursive: bool = True) -> list[Path]:
        """:meth:`names` as paths in the workspace."""
        return [workspace / rel for rel in self.names(name, suffix, recursive)]

    def stamp(self, path: str) -> Stamp | None:
        return self.files[path] if path in self.files else stat_stamp(path)

    def racy(self, st: Stamp | None) -> bool:
        return st is not None and st[1] >= self.started_ns - RACY_NS


@dataclass
class _Entry:
    deps: tuple[tuple[str, Stamp | None], ...]  # the file itself first, then the files it names
    digest: str  # sha256 of the file's bytes as parsed
    value: Any
    racy: bool  # one of the stamps was too recent to be trusted alone


def digest_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass
class Reloader:
    """What one workspace's files gave at the last load (see the module's docstring)."""

    entries: dict[str, _Entry] = field(default_factory=dict)
    fingerprint: dict[str, Stamp] | None = None  # the listing of the last load; None: no shortcut next time
    extra: tuple[tuple[str, Stamp | None], ...] = ()  # files named from outside the listing
    result: Any = None  # the last Campaign, or the problems of a broken folder
    used: set[str] = field(default_factory=set)  # entries used by the load under way (the others are dropped)
    parsed: int = 0  # files parsed by the last load (for tests and the bench)
    context: Any = None  # what validation depended on besides the files (the registered platforms)

    def within(self, context: Any) -> None:
        """Forget everything if validation now depends on something else (a platform registered since)."""
        if context != self.context:
            self.entries.clear()
            self.fingerprint = self.result = None
            self.context = context

    def unchanged(self, workspace: Path) -> bool:
        """Nothing watched changed since the last load: same listing, same stamps (none of them recent
        then: see :meth:`finish`). Compared file by file while listing, so that a minute where nothing
        changed keeps nothing per file (memory flat as stories grow); stops at the first difference."""
        if self.fingerprint is None or self.result is None:
            return False
        known, seen = self.fingerprint, 0
        for name in WATCHED:
            for path, st in iter_walk(workspace / name):
                if known.get(path) != st:
                    return False
                seen += 1
        return seen == len(known) and all(stat_stamp(p) == st for p, st in self.extra)

    def digest(self, path: str) -> str | None:
        """The hash of ``path``'s bytes as the last load parsed them (None: the load did not read it)."""
        entry = self.entries.get(path)
        return entry.digest if entry is not None and entry.digest else None

    def begin(self) -> None:
        self.used = set()
        self.parsed = 0

    def get(self, path: Path, scan: Scan, parse: Callable[[bytes | None], tuple[Any, Iterable[Path]]],
            max_bytes: int) -> Any:
        """What ``parse`` gives for the file at ``path`` (and the files it names), parsed again only if
        one of them changed. ``parse`` receives the bytes (None for a file over ``max_bytes``, which is
        not read: the parser refuses it by its size) and returns (value, the other files it depends on)."""
        key = str(path)
        self.used.add(key)
        own = scan.stamp(key)
        old = self.entries.get(key)
        if old is not None and not old.racy and old.deps[0] == (key, own) and self._same(old, scan, False):
            return old.value
        raw: bytes | None = None
        if own is not None and own[0] <= max_bytes:
            try:
                raw = path.read_bytes()
            except OSError:
                raw = None
        digest = digest_of(raw) if raw is not None else ""
        deps: Iterable[Path | str]
        if old is not None and raw is not None and old.digest == digest and self._same(old, scan, True):
            value, deps = old.value, [p for p, _ in old.deps[1:]]
        else:
            value, deps = parse(raw)
            self.parsed += 1
        stamped = ((key, own), *((str(p), scan.stamp(str(p))) for p in deps))
        self.entries[key] = _Entry(stamped, digest, value, any(scan.racy(st) for _, st in stamped))
        return value

    @staticmethod
    def _same(old: _Entry, scan: Scan, settled: bool) -> bool:
        """The files ``old`` names have the stamps they had (and, if ``settled``, none of them is recent:
        their bytes are not hashed, so a recent stamp proves nothing)."""
        for p, st in old.deps[1:]:
            now = scan.stamp(p)
            if now != st or (settled and scan.racy(now)):
                return False
        return True

    def finish(self, scan: Scan, result: Any) -> None:
        """Remember the load's result and listing; forget the entries of files that are gone."""
        for key in [k for k in self.entries if k not in self.used]:
            del self.entries[key]
        recent = any(scan.racy(st) for st in scan.files.values()) or any(e.racy for e in self.entries.values())
        self.fingerprint = None if recent else scan.files  # a recent file: the next load looks at each file
        extra: dict[str, Stamp | None] = {}
        for entry in self.entries.values():
            for p, st in entry.deps[1:]:
                if p not in scan.files:
                    extra[p] = st
        self.extra = tuple(extra.items())
        self.result = result


_reloaders: OrderedDict[Path, Reloader] = OrderedDict()


def reloader(workspace: Path) -> Reloader:
    """The reloader of this workspace (a few workspaces are kept, the least recently used is dropped)."""
    if workspace in _reloaders:
        _reloaders.move_to_end(workspace)
        return _reloaders[workspace]
    _reloaders[workspace] = r = Reloader()
    while len(_reloaders) > WORKSPACES_KEPT:
        _reloaders.popitem(last=False)
    return r


def forget(workspace: Path | None = None) -> None:
    """Drop what is kept (for one workspace, or all): the next load parses every file."""
    if workspace is None:
        _reloaders.clear()
    else:
        _reloaders.pop(workspace, None)
