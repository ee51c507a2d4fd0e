"""Writing files safely: atomically, with consistent modes, never through a symlink out of the
folder being written, never deleting what the bot did not write.

Why: a crash must never leave half a file (temporary file, fsync, rename); a web server must be
able to read every page and image (0644, the same for every file — ``mkstemp`` alone gives
0600); and a campaign folder is shared, so ``preview/`` committed as a symlink to another folder
once made ``preview`` delete ``id_rsa`` there. Output folders therefore keep a manifest of what
they wrote and delete only that, and every write is checked to stay inside its root.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

from bot.errors import BotError

T = TypeVar("T")

FILE_MODE = 0o644  # pages, images, outbox records: readable by the web server, like their folders
PRIVATE_MODE = 0o600
MANIFEST = ".campaign-bot-files.json"
TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 600  # a write takes milliseconds; a temp file this old was left by a crash


class UnsafePath(BotError, OSError):
    """A write or delete would leave the folder it belongs to (a symlink pointing elsewhere).

    The message is Vietnamese and names the path and the fix."""


class StampMemo(Generic[T]):
    """What a slow check (decoding a photo, opening a PDF, probing a video) found about a file,
    remembered per (path, size, mtime) and any ``extra`` key: ``run`` loads the folder every minute,
    and each file is checked once, not every minute. Bounded: past ``limit`` entries it starts afresh.
    A result for which ``keep`` is false is not remembered (say, "ffmpeg is missing": it may be
    installed while ``run`` goes on)."""

    def __init__(self, unreadable: Callable[[OSError], T], *, limit: int = 10_000,
                 keep: Callable[[T], bool] | None = None) -> None:
        self.unreadable = unreadable
        self.limit = limit
        self.keep = keep
        self._seen: dict[tuple[Hashable, ...], T] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, check: Callable[[Path, int], T], *extra: Hashable) -> T:
        try:
            st = path.stat()
        except OSError as exc:
            return self.unreadable(exc)
        key = (str(path), st.st_size, st.st_mtime_ns, *extra)
        with self._lock:
            known = self._seen.get(key)
        if known is None:
            known = check(path, st.st_size)
            if self.keep is None or self.keep(known):
                with self._lock:
                    if len(self._seen) >= self.limit:
                        self._seen.clear()
                    self._seen[key] = known
        return known


def inside(path: Path, root: Path) -> bool:
    """``path`` (resolved, symlinks followed) is ``root`` or below it."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def ensure_inside(path: Path, root: Path) -> None:
    """Raise :class:`UnsafePath` unless ``path`` stays inside ``root`` once symlinks are followed."""
    if not inside(path, root):
        raise UnsafePath(
            f"'{path}' trỏ ra ngoài thư mục {root} (liên kết symlink) — không ghi, không xóa gì ở đó. "
            f"Cách sửa: xóa liên kết '{path}' (ví dụ `rm {path}`) để bot tạo một thư mục thật"
        )


def atomic_write(path: Path, data: bytes, *, root: Path | None = None, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically with ``mode``; with ``root``, refuse if the folder of
    ``path`` resolves outside ``root`` (the final name itself is replaced, never followed)."""
    if root is not None:
        ensure_inside(path.parent, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    if root is not None:
        ensure_inside(path.parent, root)  # mkdir may have followed a symlink created meanwhile
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8", *, root: Path | None = None) -> None:
    atomic_write(path, text.encode(encoding), root=root)


def atomic_copy(src: Path, dest: Path, *, root: Path | None = None) -> None:
    atomic_write(dest, src.read_bytes(), root=root)


# --- output folders -------------------------------------------------------------------------------


def escaping_link(folder: Path, root: Path, depth: int = 3) -> Path | None:
    """The first symlink in ``folder`` (itself included, up to ``depth`` levels of sub-folders)
    that leads outside ``root``; None if there is none. Symlinks are not followed while walking."""
    if folder.is_symlink() and not inside(folder, root):
        return folder
    if not folder.is_dir() or not inside(folder, root):
        return folder if folder.exists() and not inside(folder, root) else None
    todo = [(folder, 0)]
    while todo:
        current, level = todo.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries[:10_000]:
            p = Path(entry.path)
            if entry.is_symlink():
                if not inside(p, root):
                    return p
            elif entry.is_dir(follow_symlinks=False) and level < depth:
                todo.append((p, level + 1))
    return None


class OutputFolder:
    """A folder the bot writes into (preview, report): confined to ``root``, with a manifest.

    ``root`` is the workspace for the default folders, or the folder named with ``--out``.
    """

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.written: set[str] = set()

    def check(self) -> None:
        """Raise :class:`UnsafePath` if the folder or anything in it leads outside ``root``."""
        bad = escaping_link(self.path, self.root)
        if bad is not None:
            ensure_inside(bad, self.root)

    def _manifest(self) -> set[str]:
        try:
            data = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
            return {str(x) for x in data.get("files", [])} if isinstance(data, dict) else set()
        except (OSError, ValueError):
            return set()

    def write(self, rel: str, data: bytes) -> Path:
        target = self.path / rel
        atomic_write(target, data, root=self.path)
        self.written.add(rel)
        return target

    def remove_old(self, subfolder: str, keep: set[str] | None = None) -> int:
        """Delete files of ``subfolder`` that an earlier run wrote (listed in the manifest) and
        that are not in ``keep``. Files the bot did not write are left alone."""
        keep = keep or set()
        removed = 0
        folder = self.path / subfolder
        if not folder.is_dir() or folder.is_symlink() or not inside(folder, self.path):
            return 0
        for rel in sorted(self._manifest()):
            if not rel.startswith(subfolder.rstrip("/") + "/") or rel in keep or ".." in Path(rel).parts:
                continue
            p = self.path / rel
            if p.is_file() and not p.is_symlink() and inside(p.parent, self.path):
                p.unlink()
                removed += 1
        return removed

    def save_manifest(self, keep_previous: bool = False) -> None:
        files = self.written | (self._manifest() if keep_previous else set())
        files = {f for f in files if (self.path / f).exists()}
        atomic_write(self.path / MANIFEST,
                     json.dumps({"files": sorted(files)}, ensure_ascii=False, indent=0).encode(),
                     root=self.path)


def clean_stale_temp(*folders: Path, older_than: float = STALE_TEMP_SECONDS, depth: int = 3) -> int:
    """Remove ``.tmp-*`` files left by a killed process (SIGKILL between write and rename)."""
    now = time.time()
    removed = 0
    for folder in folders:
        if not folder.is_dir() or folder.is_symlink():
            continue
        todo = [(folder, 0)]
        while todo:
            current, level = todo.pop()
            try:
                entries = list(os.scandir(current))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if level < depth:
                        todo.append((Path(entry.path), level + 1))
                elif entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
                    try:
                        if now - entry.stat(follow_symlinks=False).st_mtime > older_than:
                            os.unlink(entry.path)
                            removed += 1
                    except OSError:
                        pass
    return removed


def readable_by_others(path: Path) -> bool:
    """The file exists and its mode lets other users of the machine read it."""
    try:
        return bool(path.stat().st_mode & 0o004)
    except OSError:
        return False


def env_warning(workspace: Path) -> str | None:
    """A Vietnamese warning when the workspace's ``.env`` (tokens, keys) is readable by other users."""
    path = workspace / ".env"
    if readable_by_others(path) or (path.exists() and path.stat().st_mode & 0o040 and path.stat().st_mode & 0o002):
        return (f"⚠ Tệp .env (chứa token và khóa bí mật) đang cho mọi người dùng trên máy đọc được "
                f"(quyền {oct(path.stat().st_mode & 0o777)[2:]}). Cách sửa: chmod 600 {path}")
    return None
