"""`manage.py reconcile [--loop]`: the reconcile pass, once or every RECONCILE_SECONDS.

Celery beat runs it in production; the local quick start (no Redis, so no beat) runs the loop.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.tasks import reconcile


class Command(BaseCommand):
    help = "Compare the database with OME and repair drift (once, or forever with --loop)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Run every RECONCILE_SECONDS until stopped.")

    def handle(self, *args, loop: bool = False, **options):
        while True:
            reconcile()  # in this process, without the Celery task wrapper and its log lines
            if not loop:
                return
            time.sleep(settings.RECONCILE_SECONDS)
