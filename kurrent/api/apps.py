from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "kurrent.api"
    label = "kurrent_api"
    verbose_name = "KurrentDB API"
    default_auto_field = "django.db.models.BigAutoField"
