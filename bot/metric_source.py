"""The metric source of config/milestones.yaml, read by every tick and by the preview; the review of
suspicious readings (`campaign-bot metrics held|confirm|drop`).

The tick imports through :func:`import_sources` (each file in its own transaction, the URL when due);
the preview runs the same per-file step, :func:`import_file_in`, inside its rolled-back session
(:func:`import_files_in`, no network). A file whose content was imported before is skipped by its hash.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, col, select

from bot.load import Campaign, parse_duration
from bot.metrics import (
    STATUS_HELD,
    FetchError,
    ImportResult,
    RowProblem,
    fetch_url,
    file_label,
    find_readings,
    import_csv,
    import_rows,
    parse_text,
    read_source_file,
    review,
)
from bot.store.db import Store
from bot.store.models import AuditLog, Meta, MetricReading

log = logging.getLogger("bot.milestones")

META_FILE = "metrics:file:"  # + workspace-relative path -> sha256 of the last imported content
META_URL_FETCH = "metrics:url:last_fetch"  # ISO time of the last fetch attempt
META_URL_HASH = "metrics:url:hash"  # sha256 of the last imported response

def csv_files(campaign: Campaign) -> list[Path]:
    """Every *.csv under metric_source.csv (a folder or one file), hidden files excluded."""
    src = campaign.milestones.metric_source.csv
    if not src:
        return []
    root = Path(src)
    if not root.is_absolute():
        root = campaign.workspace / root
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() == ".csv"
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _set_meta(s: Session, key: str, value: str) -> None:
    row = s.get(Meta, key) or Meta(key=key, value=value)
    row.value = value
    s.add(row)


def _audit_import(s: Session, result: ImportResult) -> None:
    detail = result.as_dict()
    detail["problems"] = detail["problems"][:100]
    s.add(AuditLog(action="metrics_import", subject=result.source, detail=detail))


def _read(campaign: Campaign, path: Path) -> tuple[str, bytes | None, ImportResult | None]:
    """The file's label and content, or the result that says why it is not read (bounded, no symlink out)."""
    label = file_label(path, campaign.workspace)
    if not path.resolve().is_relative_to(campaign.workspace.resolve()) and not path.is_absolute():
        return label, None, ImportResult(source=label, problems=[RowProblem(
            label, None, "tệp số liệu là liên kết tới ngoài thư mục chiến dịch", "chép tệp vào data/ thay cho liên kết")])
    data, problem = read_source_file(path, label)
    if data is None:
        return label, None, ImportResult(source=label, problems=[problem] if problem else [])
    return label, data, None


def import_file_in(s: Session, campaign: Campaign, path: Path, label: str, data: bytes, now: datetime, *,
                   force: bool = False) -> ImportResult:
    """One file's content into the caller's session unless that content was imported before (``force``
    re-reads it anyway; re-reading changes nothing); remembers its hash and audits the import."""
    digest = hashlib.sha256(data).hexdigest()
    meta = s.get(Meta, META_FILE + label)
    if not force and meta is not None and meta.value == digest:
        return ImportResult(source=label, skipped_unchanged_file=True)
    result = import_csv(s, campaign, path, label, data, now=now)
    _set_meta(s, META_FILE + label, digest)
    _audit_import(s, result)
    return result


def import_file(campaign: Campaign, store: Store, path: Path, now: datetime, *, force: bool = False) -> ImportResult:
    """Import one file in its own transaction (see :func:`import_file_in`)."""
    label, data, refused = _read(campaign, path)
    if data is None:
        return refused or ImportResult(source=label)
    with store.session() as s:
        return import_file_in(s, campaign, path, label, data, now, force=force)


def import_files_in(s: Session, campaign: Campaign, now: datetime) -> list[ImportResult]:
    """Every changed metric file into the caller's session: the tick's file step, for the preview
    (which rolls the session back and never reads the URL)."""
    results = []
    for path in csv_files(campaign):
        try:
            label, data, refused = _read(campaign, path)
        except OSError:
            continue
        results.append(refused if data is None else import_file_in(s, campaign, path, label, data, now))
    s.flush()
    return [r for r in results if r is not None]


def fetch_source_url(campaign: Campaign, store: Store, env: dict[str, str], now: datetime) -> ImportResult | None:
    """Read metric_source.url if ``every`` has passed since the last fetch; None if not due."""
    src = campaign.milestones.metric_source
    if not src.url:
        return None
    with store.session() as s:
        last = s.get(Meta, META_URL_FETCH)
        if last is not None:
            try:
                when = datetime.fromisoformat(last.value)
            except ValueError:
                when = None
            if when is not None and when <= now < when + parse_duration(src.every):
                return None
        _set_meta(s, META_URL_FETCH, now.isoformat())
    label = src.url.split("?", 1)[0]
    token = env.get(src.token_env) if src.token_env else None
    try:
        text, fmt = fetch_url(src.url, fmt=src.format, token=token)
    except FetchError as exc:
        result = ImportResult(source=label, problems=[RowProblem(label, None, str(exc), "bot sẽ thử lại ở lượt sau")])
        store.audit("metrics_fetch_failed", subject=label, error=str(exc))
        return result
    digest = hashlib.sha256(text.encode()).hexdigest()
    with store.session() as s:
        meta = s.get(Meta, META_URL_HASH)
        if meta is not None and meta.value == digest:
            return ImportResult(source=label, skipped_unchanged_file=True)
        rows, problems = parse_text(text, fmt, label)
        result = import_rows(s, campaign, rows, label, now)
        result.problems = sorted(problems + result.problems, key=lambda p: p.line or 0)
        _set_meta(s, META_URL_HASH, digest)
        _audit_import(s, result)
    return result


def import_sources(campaign: Campaign, store: Store, env: dict[str, str], now: datetime) -> list[ImportResult]:
    """Import what is new in the metric source (files whose content changed; the URL when due)."""
    results: list[ImportResult] = []
    for path in csv_files(campaign):
        try:
            result = import_file(campaign, store, path, now)
        except OSError as exc:
            label = file_label(path, campaign.workspace)
            result = ImportResult(
                source=label, problems=[RowProblem(label, None, f"không đọc được tệp: {exc.strerror}")]
            )
        except Exception as exc:  # noqa: BLE001 - one file's data never stops the others nor the tick
            log.exception("metric file %s skipped", path)
            label = file_label(path, campaign.workspace)
            result = ImportResult(source=label, problems=[RowProblem(
                label, None, f"tệp bị bỏ qua lượt này ({type(exc).__name__})", "kiểm tra nội dung tệp; các tệp khác vẫn được nhập")])
        if not result.skipped_unchanged_file:
            results.append(result)
    fetched = fetch_source_url(campaign, store, env, now)
    if fetched is not None and not fetched.skipped_unchanged_file:
        results.append(fetched)
    return results


# --- review of suspicious readings ----------------------------------------------------------------


def held_readings(store: Store) -> list[MetricReading]:
    """The readings held as suspicious jumps, waiting for a person (`campaign-bot metrics held`)."""
    with store.session() as s:
        return list(s.exec(select(MetricReading).where(MetricReading.status == STATUS_HELD)
                           .order_by(col(MetricReading.unit_id), col(MetricReading.at))).all())


def review_readings(store: Store, unit: str, metric: str, when: datetime | None, statuses: tuple[str, ...],
                    new_status: str, who: str, verb: str) -> list[MetricReading]:
    """Confirm or drop the unit's readings (all of ``statuses``, or the one at ``when``), each audited;
    returns those changed. The milestones are evaluated again at the next tick."""
    with store.session() as s:
        rows = find_readings(s, unit, metric, when, statuses)
        for r in rows:
            review(s, r, new_status, who)
            s.add(AuditLog(actor=who, action=f"metric_{verb}", subject=f"{unit}/{metric}",
                           detail={"at": r.at.astimezone(UTC).isoformat() if r.at else None, "value": r.value,
                                   "status": new_status}))
    return rows
