"""The system records at the start of a fresh node's log, as a new KurrentDB writes them.

A real node's `$all` is never empty: it begins with an epoch record, the default users and the
system settings. Code that hides system events (the clients' default filters, the app's event
browser) is then tested against some. The user records carry names only, never a password hash.
"""

from __future__ import annotations

import json
import time
import uuid

from .records import StoredEvent, record_size

_USERS = (
    ("admin", "KurrentDB Administrator", ["$admins"]),
    ("ops", "KurrentDB Operations", ["$ops"]),
)


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def system_records(first_position: int) -> list[StoredEvent]:
    """The records of a fresh log, the first at `first_position`, each after the previous."""
    now = time.time_ns() // 100
    epoch_id = str(uuid.uuid4())
    proposed: list[tuple[str, int, str, bytes]] = [
        (
            "$epoch-information",
            0,
            "$epoch-information",
            _json({"epochId": epoch_id, "epochNumber": 0, "epochPosition": 0}),
        ),
    ]
    for revision, (name, full_name, groups) in enumerate(_USERS):
        proposed.append(
            (
                f"$user-{name}",
                0,
                "$user",
                _json({"loginName": name, "fullName": full_name, "groups": groups}),
            )
        )
        proposed.append(("$users", revision, "$UserCreated", name.encode()))  # not JSON
    proposed.append(
        (
            "$settings",
            0,
            "$settings",
            _json(
                {
                    "$userStreamAcl": {
                        "$r": "$all",
                        "$w": "$all",
                        "$d": "$all",
                        "$mr": "$all",
                        "$mw": "$all",
                    },
                    "$systemStreamAcl": {
                        "$r": "$admins",
                        "$w": "$admins",
                        "$d": "$admins",
                        "$mr": "$admins",
                        "$mw": "$admins",
                    },
                }
            ),
        )
    )
    records = []
    position = first_position
    for stream, revision, event_type, data in proposed:
        is_json = event_type != "$UserCreated"
        record = StoredEvent(
            position, stream, revision, str(uuid.uuid4()), event_type, is_json, data, b"", now
        )
        records.append(record)
        position += record_size(record)
    return records
