from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self):
        # Registers the bearer-token security scheme with drf-spectacular.
        from . import schema  # noqa: F401
        from .serializers import register_webhook_representations

        # Webhook payloads carry each object as this API shows it.
        register_webhook_representations()
