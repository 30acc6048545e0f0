from django.apps import AppConfig


class KurrentConfig(AppConfig):
    name = "kurrent"
    verbose_name = "KurrentDB"
    default_auto_field = "django.db.models.BigAutoField"
