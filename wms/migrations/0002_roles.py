"""Create the role groups (picker, receiver, supervisor, inventory controller,
finance, administrator) with the permissions of the models that exist now.
``wms.roles.roles_sync`` runs again after every migrate for later models."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):
    # Permissions are normally created after migrate; make them now so the
    # groups get theirs in this migration.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    from wms.roles import roles_sync

    roles_sync(group_model=apps.get_model("auth", "Group"),
               permission_model=apps.get_model("auth", "Permission"))


def remove_roles(apps, schema_editor):
    from wms.roles import ROLE_PERMISSIONS

    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("wms", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("inventory", "0001_initial"),
        ("integrations", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
