"""Seed demo stream records and user data through the services, so they are real events."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kurrent.connection.config import PRODUCTION, active_environment, environments
from kurrent.core.errors import KurrentError
from kurrent.core.events import object_id
from kurrent.models import StreamRecord, UserDataEntry
from kurrent.ops import backup
from kurrent.readmodel import rows
from kurrent.services import records, userdata
from kurrent.services.roles import EDITOR

SPECIES = ("emperor", "king", "adelie", "gentoo", "chinstrap", "macaroni", "rockhopper")
COLONIES = ("Cape Crozier", "Snow Hill", "Halley Bay", "Point Geologie", "Deception Island")
TAGS = ("census", "breeding", "moult", "chicks", "survey", "weather", "tagged", "foraging")
THEMES = ("light", "dark", "system")  # the preferences schema's themes


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    entries: int = 0
    existing: int = 0  # records and entries an earlier run made


class Command(BaseCommand):
    help = (
        "Create COUNT demo stream records (some updated, some deleted) and user data for a "
        "few demo users, through the same services as the dashboard, so every change is a "
        "real event. Keys are fixed by position, so running it again adds nothing, and an "
        "interrupted run resumes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("count", type=int, nargs="?", default=50, help="records (default 50)")
        parser.add_argument("--users", type=int, default=3, help="demo users (default 3)")
        parser.add_argument(
            "--user-prefix", default="penguin", help="demo user names: <prefix>1, <prefix>2, ..."
        )
        parser.add_argument("--env", choices=environments(), help="default: the active one")
        parser.add_argument("--seed", type=int, default=1, help="random seed of the demo values")
        parser.add_argument(
            "--yes", action="store_true", help=f"confirm seeding {PRODUCTION} (production)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        count, user_count = options["count"], options["users"]
        env = options["env"] or active_environment()
        if not 0 <= count <= 1_000_000:
            raise CommandError("COUNT must be between 0 and 1000000.", returncode=2)
        if not 1 <= user_count <= 1000:
            raise CommandError("--users must be between 1 and 1000.", returncode=2)
        if env == PRODUCTION and not options["yes"]:
            raise CommandError(
                f"{env} is production: add --yes to put demo data there.", returncode=2
            )
        users = _demo_users(options["user_prefix"], user_count)
        plan = _plan(count, users, options["seed"])
        started = time.monotonic()
        tally = Tally()
        bar = backup.progress_bar(
            len(plan),
            desc=f"seed {env}",
            unit="write",
            file=getattr(self.stderr, "_out", sys.stderr),
            enabled=not options["no_progress"],
        )
        done = 0
        try:
            with bar:
                for step in plan:
                    step(env, tally)
                    done += 1
                    bar.update(1)
        except KurrentError as exc:
            raise CommandError(
                f"Seeding stopped after {done} of {len(plan)} writes: {exc} Run the same "
                "command again to finish (it skips what is done).",
                returncode=1,
            ) from None
        names = (
            f"{users[0].username}..{users[-1].username}" if len(users) > 1 else users[0].username
        )
        self.stdout.write(
            f"Seeded {env}: {tally.created} record(s) created, {tally.updated} updated, "
            f"{tally.deleted} deleted, {tally.entries} user-data entr"
            f"{'y' if tally.entries == 1 else 'ies'} for {len(users)} user(s) ({names}), "
            f"in {time.monotonic() - started:.1f} s; {tally.existing} record(s) and entries "
            "were there from an earlier run."
        )


def _demo_users(prefix: str, count: int) -> list[Any]:
    """Editors named <prefix>1.. with unusable passwords (demo owners, not logins)."""
    model = get_user_model()
    editors, _ = Group.objects.get_or_create(name=EDITOR)
    users = []
    for n in range(1, count + 1):
        user, created = model.objects.get_or_create(username=f"{prefix}{n}")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(editors)
        users.append(user)
    return users


def _plan(count: int, users: list[Any], seed: int) -> list[Any]:
    """The writes to make, in order, each a callable(env, tally). Values come from `seed`,
    idempotency keys from positions: a second run makes the same writes, which append
    nothing."""
    rng = random.Random(seed)
    steps: list[Any] = []
    for i in range(count):
        owner = users[i % len(users)]
        species, colony = rng.choice(SPECIES), rng.choice(COLONIES)
        fields = {
            "name": f"{colony}: {species} census #{i + 1}",
            "data": {
                "species": species,
                "colony": colony,
                "count": rng.randint(10, 5000),
                "observed": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "notes": f"{species.capitalize()} penguins seen near {colony}.",
            },
            "tags": rng.sample(TAGS, rng.randint(1, 3)),
            "is_public": i % 3 != 0,
        }
        new_count = rng.randint(10, 5000)
        steps.append(_RecordSteps(i, owner, fields, new_count))
    steps = [s for record in steps for s in record.steps()]
    entries = len(users) * 2 + count // 5
    for n in range(entries):
        owner = users[n % len(users)]
        steps.append(_entry_step(n, owner, rng, lap=n // (5 * len(users))))
    return steps


class _RecordSteps:
    """Create, then (every 4th) update, then (every 10th) delete one record; each step
    is skipped when the record's version shows it was done by an earlier run."""

    def __init__(self, i: int, owner: Any, fields: dict[str, Any], new_count: int) -> None:
        self.i, self.owner, self.fields, self.new_count = i, owner, fields, new_count
        self.record: Any = None

    def steps(self) -> list[Any]:
        found = [self.create]
        if self.i % 4 == 1:
            found.append(self.update)
        if self.i % 10 == 9:
            found.append(self.delete)
        return found

    def create(self, env: str, tally: Tally) -> None:
        key = f"seed:{self.i}"
        row = StreamRecord.objects.filter(
            env=env, record_id=object_id("record", self.owner.pk, key)
        ).first()
        if row is not None:
            self.record = rows.record_from_row(row)
            tally.existing += 1
            return
        self.record = records.create_record(self.owner, idempotency_key=key, env=env, **self.fields)
        tally.created += 1

    def update(self, env: str, tally: Tally) -> None:
        if self.record.version >= 1 or self.record.deleted:
            return
        data = {**self.fields["data"], "count": self.new_count}
        self.record = records.update_record(
            self.owner,
            self.record.id,
            expected_version=0,
            data=data,
            idempotency_key=f"seed:{self.i}:update",
            env=env,
        )
        tally.updated += 1

    def delete(self, env: str, tally: Tally) -> None:
        if self.record.deleted:
            return
        records.delete_record(
            self.owner,
            self.record.id,
            expected_version=self.record.version,
            idempotency_key=f"seed:{self.i}:delete",
            env=env,
        )
        tally.deleted += 1


def _entry_step(n: int, owner: Any, rng: random.Random, lap: int = 0) -> Any:
    """Store one entry; (user, type, category) names one entry, so a user's second
    entry of a type (the `lap`-th) gets a numbered category."""
    kind = ("profile", "preferences", "data", "settings", "custom")[n % 5]
    values = {
        "profile": ("about", {"display_name": owner.username.capitalize(), "colony": "Snow Hill"}),
        "preferences": ("display", {"theme": rng.choice(THEMES), "page_size": 20}),
        "data": ("sightings", {"count": rng.randint(1, 300), "species": rng.choice(SPECIES)}),
        "settings": ("notifications", {"email": n % 2 == 0}),
        "custom": ("notes", {"text": f"Field note {n + 1}"}),
    }
    category, value = values[kind]
    if lap:
        category = f"{category} {lap + 1}"
    tags = rng.sample(TAGS, 1)
    public = kind in ("profile", "data")

    def store(env: str, tally: Tally) -> None:
        key = f"seed:entry:{n}"
        address = {"owner_id": owner.pk, "entry_type": kind, "category": category}
        if UserDataEntry.objects.filter(env=env, deleted=False, **address).exists():
            tally.existing += 1
            return
        userdata.store_entry(
            owner,
            entry_type=kind,
            category=category,
            value=value,
            tags=tags,
            is_public=public,
            idempotency_key=key,
            env=env,
        )
        tally.entries += 1

    return store
