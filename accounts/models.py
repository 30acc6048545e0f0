from __future__ import annotations

from django.db import models


class LoginThrottle(models.Model):
    """Failed sign-ins for one (username, client address) pair.

    Kept in the database rather than a per-process cache so that several app
    processes behind a load balancer share one count.
    """

    username = models.CharField(max_length=150)
    ip = models.CharField(max_length=45)
    failures = models.PositiveIntegerField(default=0)
    first_failure_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["username", "ip"], name="accounts_throttle_user_ip")
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.ip}: {self.failures}"
