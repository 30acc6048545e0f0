"""Create the role groups viewer, editor and admin (see accounts.groups)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.groups import apply_role_groups
from kurrent.services.roles import ROLES


def create_groups(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes; create them
    # now so the groups get them on a fresh database too.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    apply_role_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_login_throttle"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
