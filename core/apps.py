from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Building blocks every app uses: domain errors, action answers, encrypted fields, rate
    limits, the outgoing-URL check, queueing that survives a broker outage."""

    name = "core"
    verbose_name = "Shared building blocks"
