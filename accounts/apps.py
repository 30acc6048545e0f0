from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts.backends import connect_signals
        from accounts.groups import sync_role_groups

        connect_signals()

        # Models added by later migrations get their permissions only after
        # `migrate` ends, so the role groups are topped up then as well.
        post_migrate.connect(sync_role_groups, dispatch_uid="accounts-sync-role-groups")
