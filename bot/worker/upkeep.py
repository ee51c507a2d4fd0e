"""Upkeep around publishing: holds a new token releases, token renewals and engagement reads.

Each call to a platform here (a token renewal, an engagement read) is made under the channel's
lease, like a post: one call in flight per Page or OA, whatever the number of workers; a busy
channel (a post in flight, paused or held) is tried again on a later pass.
"""

from __future__ import annotations

from bot.channels import HoldChannel, fingerprint
from bot.store import channels as channel_state
from bot.store import engagement
from bot.worker.policy import ENGAGEMENT_EVERY, ENGAGEMENT_WINDOW, WorkerState, log, scrub


def release_renewed_holds(w: WorkerState) -> list[str]:
    """A held channel whose token variable now holds a different token than the refused one is released."""
    released = []
    for h in channel_state.held(w.store):
        row = w.rows.get(h.channel_id)
        token = w.env.get(row.token_env or "") if row else None
        if not token or not h.token_fingerprint or fingerprint(token) == h.token_fingerprint:
            continue
        if channel_state.release_hold(w.store, h.channel_id, w.clock.now(), actor="bot",
                                      why="token mới trong môi trường", only_fingerprint=h.token_fingerprint):
            released.append(h.channel_id)
    return released


def keep_tokens_alive(w: WorkerState) -> int:
    """Renew rotating tokens (Zalo) once a day, so an OA that rarely posts never loses its chain."""
    if w.force_outbox:
        return 0
    renewed = 0
    for cid, row in list(w.rows.items()):
        if not row.active or not (row.token_env and w.env.get(row.token_env)):
            continue
        key = f"keepalive:{cid}"
        today = w.clock.now().date().isoformat()
        if channel_state.meta(w.store, key) == today:
            continue
        channel = w.channel(cid)
        keep_alive = getattr(channel, "keep_alive", None)
        if keep_alive is None:
            continue
        if not w._acquire(cid):
            continue  # busy (a post in flight, paused or held): tried again on the next pass
        try:
            keep_alive()
        except HoldChannel as exc:
            w._hold(cid, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - a renewal that fails now is tried again on the next pass
            log.warning("keep-alive %s: %s", cid, scrub(str(exc), w.secrets))
            continue
        finally:
            w._release(cid)
        channel_state.set_meta(w.store, key, today)
        renewed += 1
    return renewed


def read_engagement(w: WorkerState) -> int:
    """Read reactions/comments/shares of recently sent posts back, at most every few hours."""
    if w.force_outbox:
        return 0
    due = engagement.due_for_reading(w.store, w.clock.now(), window=ENGAGEMENT_WINDOW, every=ENGAGEMENT_EVERY)
    total = 0
    for cid, posts in due.items():
        if cid not in w.rows or not w._acquire(cid):
            continue
        try:
            readings = w.channel(cid).engagement([p.post_id for p in posts])
        except Exception as exc:  # noqa: BLE001 - engagement is best effort; posting is not affected
            log.warning("engagement %s: %s", cid, scrub(str(exc), w.secrets))
            continue
        finally:
            w._release(cid)
        read_at = w.clock.now()  # when the answer came, not when the pass began
        total += engagement.record(w.store, read_at, [(p.delivery_id, readings[p.post_id]) for p in posts
                                                      if p.post_id in readings])
    return total
