"""Settings of the admission benchmark: the portal's own settings, with bench/urls.py as URLconf
(the portal's URLs plus two bare views to compare the webhook against)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
