"""schemathesis hooks for tests/conformance.rs.

A deadline must lie in the future, which a schema cannot say; generated times are random
years. Times that are already past in otherwise valid data are moved a day ahead, so that
positive cases stay positive. Negative cases (a wrong type, a malformed string) are untouched.
"""

from datetime import datetime, timedelta, timezone

import schemathesis

FUTURE_FIELDS = ("deposit_deadline", "expired_at")


def _future(value):
    now = datetime.now(timezone.utc)
    ahead = now + timedelta(days=1)
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if value > now.timestamp() + 60 else int(ahead.timestamp())
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if parsed.tzinfo is None:
            return value
        return value if parsed > now + timedelta(minutes=1) else ahead.isoformat()
    return value


@schemathesis.hook
def before_call(ctx, case, kwargs):
    # Every phase's requests pass here (map_body sees only generated bodies).
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    body = case.body
    if isinstance(body, dict):
        for field in FUTURE_FIELDS:
            if field in body:
                body[field] = _future(body[field])
