from django.apps import AppConfig


class KurrentConfig(AppConfig):
    name = "kurrent"
    verbose_name = "KurrentDB"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from kurrent.connection import config
        from kurrent.ops import checks
        from kurrent.readmodel import searchwords

        # Bad KurrentDB settings stop start-up with one message naming the variable
        # (manage.py and wsgi.py print a ConfigError alone and exit with status 2).
        config.validate_all()
        checks.register()
        # The SQLite search triggers call kurrent_fts_words() (migration 0013).
        connection_created.connect(searchwords.register, dispatch_uid="kurrent_fts_words")
