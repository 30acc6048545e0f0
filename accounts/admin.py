from django.contrib import admin

from accounts.models import LoginThrottle


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    """Admins can see who is locked out and lift a lockout by deleting the row."""

    list_display = ("username", "ip", "failures", "first_failure_at", "locked_until")
    search_fields = ("username", "ip")
    list_filter = ("locked_until",)
    readonly_fields = ("username", "ip", "failures", "first_failure_at", "locked_until")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
