"""The fake Zalo's customer-service messages (issue 19): ``POST /v3.0/oa/message/cs``.

Kept beside tests/fakes/zalo_server.py, hooked there with one line, so that the OA's replies to followers
(acknowledgements, "your story was published") go over real HTTP like every other Zalo call.
``{"recipient": {"user_id"}, "message": {"text"}}`` → ``{"data": {"message_id", "user_id"}}``; a missing user or
text → -201; a user in ``fake.cs_outside_window`` (no interaction for 7 days) → -213, as Zalo answers.
Every accepted message is kept in ``fake.cs_messages`` as (oa id, user id, text).
"""

from __future__ import annotations

from typing import Any


def cs_routes(fake: Any) -> dict[tuple[str, str], Any]:
    fake.__dict__.setdefault("cs_messages", [])
    fake.__dict__.setdefault("cs_outside_window", set())

    def message_cs(oa: Any, query: Any, headers: Any, body: bytes) -> Any:
        d = fake._body_json(body)
        user = str((d.get("recipient") or {}).get("user_id") or "")
        text = str((d.get("message") or {}).get("text") or "")
        if not user or not text:
            return fake._err(-201, "recipient or message is invalid")
        if user in fake.cs_outside_window:
            return fake._err(-213, "User has not interacted with the OA in the last 7 days")
        with fake.lock:
            fake.cs_messages.append((oa.oa_id, user, text))
        return fake._ok({"message_id": fake._new_id("msg_"), "user_id": user})

    return {("POST", "/v3.0/oa/message/cs"): message_cs}
