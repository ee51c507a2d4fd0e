"""The root of the project's error types.

Every error is defined beside the role that raises it (as APScheduler defines its errors beside its job
stores and executors), and every one derives from :class:`BotError`, so one ``except BotError`` tells
"ours: its message is for the staff, in Vietnamese, and holds no secret" from a bug. The index:

* load — :class:`bot.yamlfile.LoadError` (each :class:`~bot.yamlfile.Problem` has file, line, fix);
  :class:`bot.templating.StaffTemplateError`, :class:`bot.templating.TextRenderError` (the staff sandbox);
  :class:`bot.files.UnsafePath` (a path that leaves its folder or is a symlink)
* store — :class:`bot.store.db.StoreError`; :class:`bot.secretbox.SecretBoxError` (tokens at rest)
* channels — :class:`bot.channels.base.ChannelError` with :class:`~bot.channels.base.RetryLater`,
  :class:`~bot.channels.base.HoldChannel`, :class:`~bot.channels.base.Rejected` (what the worker does next);
  :class:`bot.channels.spec.UnknownPlatform`; :class:`bot.channels.zalo.errors.ZaloApiError`
* attachments — :class:`bot.banners.fields.BannerError`, :class:`bot.media.MediaError`,
  :class:`bot.video.VideoError`, :class:`bot.documents.DocumentError`
* metrics — :class:`bot.metrics.importing.FetchError`; alerts — :class:`bot.alerts.transports.SendError`
* web — :class:`bot.web.photos.PhotoError`, :class:`bot.web.publish.PublishError`
"""

from __future__ import annotations


class BotError(Exception):
    """An error of campaign-bot: its message is written for the staff and never contains a token."""
