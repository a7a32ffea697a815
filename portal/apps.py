from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The project: settings, root URLs, the Celery app, site-wide views and commands."""

    name = "portal"
    verbose_name = "Streaming Stack"
