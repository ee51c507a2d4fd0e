"""What the alerts know: event kinds, their Vietnamese labels, and the limits of a pass."""

from __future__ import annotations

import logging
from datetime import timedelta

log = logging.getLogger(__name__)




KIND_OF = {
    "folder.invalid": "folder",
    "folder.valid": "folder",
    "channel.held": "channel",
    "channel.released": "channel",
    "delivery.failed": "failure",
    "milestone.announced": "milestone",
    "metrics.unreadable": "metrics",
}
TYPE_LABELS = {
    "folder.invalid": "thư mục lỗi",
    "folder.valid": "thư mục hợp lệ trở lại",
    "channel.held": "kênh bị tạm giữ",
    "channel.released": "kênh được mở lại",
    "delivery.failed": "bài đăng lỗi hẳn",
    "milestone.announced": "cột mốc",
    "metrics.unreadable": "không đọc được số liệu",
    "digest": "bản tin tuần",  # issue 17: recorded by bot.digest, sent by this module's send_due
}
STATE_LABELS = {"pending": "chờ gửi", "sending": "đang gửi", "retry": "sẽ gửi lại", "sent": "đã gửi",
                "failed": "không gửi được"}
UNIT_KINDS = ("channel", "failure")  # events a unit's own contacts hear about
STORM_WINDOW = timedelta(hours=1)
METRICS_GRACE = timedelta(days=1)
LEASE = timedelta(minutes=5)
SMTP_TIMEOUT = 10.0
MAX_PER_PASS = 50  # messages sent by one pass; the rest go in the next
MAX_LISTED = 40  # entries shown in one message; the rest are counted
CURSOR_OVERLAP = 200
META_AUDIT = "alerts:audit_cursor"
META_FIRING = "alerts:firing_cursor"
META_METRICS = "alerts:metrics_failing"
# action.failed: an edit or a removal of a published post (issue 16) that failed for good is told like a post.
AUDIT_ACTIONS = ("channel.held", "channel.released", "delivery.failed", "action.failed")
ACTION_LABELS = {"edit": "sửa bài đã đăng", "repost": "đăng lại bản mới", "remove": "gỡ bài đã đăng"}


