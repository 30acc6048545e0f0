"""The read model: tables the projector keeps from the events (CQRS), and its checkpoint.

Nothing but the projector writes these rows; lists and searches read them. Every row
is keyed by environment. The owner is a foreign key without a database constraint:
a row mirrors an event, which may name a user this database does not have (a record
written by another process or restored from a backup), and a rebuild must always
succeed.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models


class ReadModelQuerySet(models.QuerySet):
    def visible_to(self, actor) -> ReadModelQuerySet:
        """What `actor` may see (kurrent.readmodel.visibility: public, own, or all for
        an admin)."""
        from kurrent.readmodel.visibility import visible_filter

        condition = visible_filter(actor)
        return self if condition is None else self.filter(condition)

    def live(self) -> ReadModelQuerySet:
        """Not deleted: what lists and searches show.

        Written as `deleted IN (false)`: Django renders `deleted=False` as `NOT deleted`,
        which SQLite cannot match to the (env, deleted, updated_at) index, so a list
        page sorted all rows instead of walking the index (30 ms -> 1 ms at 100,000)."""
        return self.filter(deleted__in=[False])


class StreamRecordQuerySet(ReadModelQuerySet):
    def for_env(self, env: str) -> StreamRecordQuerySet:
        return self.filter(env=env)

    def with_tags(self, tags) -> StreamRecordQuerySet:
        """Records carrying every one of `tags`."""
        qs = self
        for tag in tags:
            qs = qs.filter(pk__in=RecordTag.objects.filter(tag=tag).values("record_id"))
        return qs


class StreamRecord(models.Model):
    env = models.CharField(max_length=20)
    record_id = models.UUIDField()
    name = models.CharField(max_length=200)
    data = models.JSONField(default=dict)
    tags = models.JSONField(default=list)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    owner_name = models.CharField(max_length=150)
    is_public = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict)
    version = models.BigIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    last_event_id = models.CharField(max_length=36, blank=True)
    # Commit position in $all of the last event applied to this row.
    position = models.BigIntegerField(default=0)
    # The text values inside `data`, which full-text search indexes beside name and tags.
    data_text = models.TextField(blank=True, default="")

    objects = StreamRecordQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["env", "record_id"], name="kurrent_record_env_id"),
        ]
        indexes = [
            # Lists: visibility columns included, so counting 100,000 rows reads the
            # index only (the rows themselves are wide).
            models.Index(
                fields=["env", "deleted", "-updated_at", "is_public", "owner"],
                name="kurrent_rec_list",
            ),
            models.Index(
                fields=["env", "owner", "deleted", "-updated_at"], name="kurrent_rec_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.env})"


class RecordSearch(models.Model):
    """PostgreSQL's full-text index of the live (not deleted) records: one narrow row per
    record, kept by a trigger on StreamRecord (migrations 0005, 0009), so that counting
    and ordering thousands of matches reads small rows, not the wide record rows. Always
    empty on SQLite, where the FTS5 tables of migration 0009 do this job.

    search_vector: every word of name, tags and data text (stripped: no positions);
    head_vector: name (weight A) and tags (weight B), for the relevance tiers of
    kurrent.search; tags: the record's tags, for "has all these tags" (`@>`). Each has a
    GIN index (raw SQL in the migrations)."""

    record = models.OneToOneField(
        StreamRecord,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_column="record_pk",
        related_name="+",
    )
    env = models.CharField(max_length=20)
    is_public = models.BooleanField()
    owner_id = models.BigIntegerField(null=True)
    updated_at = models.DateTimeField()
    search_vector = SearchVectorField()
    head_vector = SearchVectorField()
    tags = models.JSONField(default=list)

    class Meta:
        db_table = "kurrent_record_search"  # named in the trigger of migration 0005
        # No b-tree on the visibility columns: PostgreSQL combined it with the GIN index
        # and read 160,000 entries for a rare word (4 ms without it, 18 ms with).
        indexes = [
            # Searches read a tier's many matches newest first from here (a walk).
            models.Index(fields=["env", "-updated_at", "-record"], name="kurrent_search_recent"),
        ]

    def __str__(self) -> str:
        return str(self.record_id)


class RecordTag(models.Model):
    """One row per (record, tag), so "all of these tags" is an indexed query on any DB."""

    # DO_NOTHING: the projector deletes a record's tags before the record, so that
    # deleting 100,000 records (a rebuild) is one DELETE, not a fetch of every row.
    record = models.ForeignKey(StreamRecord, on_delete=models.DO_NOTHING, related_name="tag_rows")
    tag = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record", "tag"], name="kurrent_recordtag_unique"),
        ]
        indexes = [models.Index(fields=["tag", "record"], name="kurrent_tag_lookup")]

    def __str__(self) -> str:
        return self.tag


class UserDataEntry(models.Model):
    env = models.CharField(max_length=20)
    entry_id = models.UUIDField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    owner_name = models.CharField(max_length=150)
    entry_type = models.CharField(max_length=20)
    category = models.CharField(max_length=100)
    key = models.CharField(max_length=200, blank=True, default="")
    value = models.JSONField(default=dict)
    tags = models.JSONField(default=list)
    is_public = models.BooleanField(default=False)
    version = models.BigIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    last_event_id = models.CharField(max_length=36, blank=True)
    position = models.BigIntegerField(default=0)
    # Lower-cased category, tags and text values, for the public directory's filter.
    search_text = models.TextField(blank=True, default="")

    objects = ReadModelQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "user data entries"
        constraints = [
            models.UniqueConstraint(fields=["env", "entry_id"], name="kurrent_entry_env_id"),
            # (user, type, category) names one entry: at most one live row per address
            # (migration 0012 says what became of duplicates stored before).
            models.UniqueConstraint(
                fields=["env", "owner", "entry_type", "category"],
                condition=models.Q(deleted=False),
                name="kurrent_entry_address",
            ),
        ]
        indexes = [
            models.Index(fields=["env", "owner", "entry_type"], name="kurrent_entry_owner"),
            models.Index(
                fields=["env", "is_public", "deleted", "-updated_at"], name="kurrent_entry_public"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entry_type}/{self.category} of {self.owner_name}"


class ProjectionCheckpoint(models.Model):
    """How far the projector got in $all, per environment. Its row is also the lock:
    every batch is applied under SELECT ... FOR UPDATE of it, in one transaction with
    the rows it changes, so two projectors never apply the same event twice."""

    env = models.CharField(max_length=20, unique=True)
    position = models.BigIntegerField(default=0)
    events_applied = models.BigIntegerField(default=0)
    skipped_events = models.BigIntegerField(default=0)
    last_event_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.env} @ {self.position}"


class Activity(models.Model):
    """One row per applied event, newest first: the dashboard's activity feed.

    The unique (env, position) pair doubles as a tripwire: an event applied twice
    would violate it and roll its batch back."""

    env = models.CharField(max_length=20)
    position = models.BigIntegerField()
    stream_name = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)  # "record" | "userdata" | "erasure"
    object_id = models.CharField(max_length=36)
    title = models.CharField(max_length=200, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    owner_id = models.BigIntegerField(null=True)
    is_public = models.BooleanField(default=False)
    recorded_at = models.DateTimeField()

    objects = ReadModelQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "activities"
        constraints = [
            models.UniqueConstraint(fields=["env", "position"], name="kurrent_activity_position"),
        ]
        indexes = [
            models.Index(fields=["env", "object_id"], name="kurrent_activity_object"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.stream_name}"


class SkippedEvent(models.Model):
    """An event of one of our streams that the projector could not apply, and why.

    The checkpoint moves past it (the projector never retries one event forever); this
    row is what an admin sees of it, on the status page and in /admin/. A rebuild meets
    the same event again and records it once more (the rows of an environment are
    emptied with its other tables)."""

    env = models.CharField(max_length=20)
    stream_name = models.CharField(max_length=200)
    revision = models.BigIntegerField()
    position = models.BigIntegerField()
    event_type = models.CharField(max_length=100)
    event_id = models.CharField(max_length=36)
    reason = models.CharField(max_length=40)  # one of kurrent.core.shapes.PROBLEM_REASONS
    detail = models.TextField(blank=True)
    skipped_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["env", "position"], name="kurrent_skipped_position"),
        ]
        indexes = [models.Index(fields=["env", "-position"], name="kurrent_skipped_recent")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.stream_name}@{self.revision}: {self.reason}"


class ProjectorHeartbeat(models.Model):
    """The live projector's sign of life in one environment, not part of the read model
    (it is written by kurrent.readmodel.heartbeat.beat, from no event): when a live
    projector last said it was following (or trying to), from which process, and how
    far its checkpoint was. A lag reading is only "in sync" while this is recent."""

    env = models.CharField(max_length=20, unique=True)
    beat_at = models.DateTimeField()
    following = models.BooleanField(default=False)  # subscribed, not reconnecting
    position = models.BigIntegerField(default=0)  # the checkpoint at the beat
    process = models.CharField(max_length=120, blank=True)  # host:pid
    problem = models.CharField(max_length=300, blank=True)  # why it is not following

    def __str__(self) -> str:
        return f"{self.env} beat {self.beat_at:%H:%M:%S}"
