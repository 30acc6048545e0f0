from django.apps import AppConfig


class KurrentConfig(AppConfig):
    name = "kurrent"
    verbose_name = "KurrentDB"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kurrent.connection import config
        from kurrent.ops import checks

        # Bad KurrentDB settings stop start-up with one message naming the variable
        # (manage.py and wsgi.py print a ConfigError alone and exit with status 2).
        config.validate_all()
        checks.register()
