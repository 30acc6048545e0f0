"""The API's own tables: tokens and idempotency keys. Neither is the read model (which
only the projector writes) nor domain data (which lives in KurrentDB): they are access
control and request bookkeeping, like sessions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

SCOPE_READ = "read"
SCOPE_READ_WRITE = "read-write"
SCOPES = ((SCOPE_READ, "read"), (SCOPE_READ_WRITE, "read-write"))


class ApiToken(models.Model):
    """A bearer token of one user. Only the SHA-256 of the secret is kept: the secret
    itself is shown once, when the token is made, and can never be read back."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=20, choices=SCOPES, default=SCOPE_READ)
    # The first characters of the secret (after its fixed prefix), to tell tokens apart.
    hint = models.CharField(max_length=12)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="kurrent_api_token_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.scope}) of user {self.user_id}"


class IdempotencyKey(models.Model):
    """What an API write with an `Idempotency-Key` header asked for: the method, path and
    body (as a SHA-256 of them), so that the same key with another request is refused
    (409) while the same request again is replayed through the same service."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="kurrent_api_idem_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} of user {self.user_id}"
