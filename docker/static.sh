#!/bin/sh
# Build-time static files of the portal image (docker/Dockerfile), never run in a container:
#
#   static.sh collect        collectstatic with the production storage (hashed, compressed names)
#   static.sh placeholders   create the STATICFILES_DIRS that are missing in the final image
#
# The npm packages (node_modules) exist only in the build stage; the final image serves the
# collected copies from STATIC_ROOT. Django's staticfiles check still warns about a missing
# STATICFILES_DIRS entry, so the final image keeps those folders, empty.
set -eu
cd "$(dirname "$0")/.."

# Settings refuse to load in production mode without secrets; these exist only for this command.
export SECRET_KEY="${SECRET_KEY:-build-time-only}"
export FIELD_ENCRYPTION_KEY="${FIELD_ENCRYPTION_KEY:-build-time-only}"
export OME_WEBHOOK_SECRET="${OME_WEBHOOK_SECRET:-build-time-only}"
export OME_API_TOKEN="${OME_API_TOKEN:-build-time-only}"
export STATIC_MANIFEST=true

case "${1:-collect}" in
collect)
	exec python manage.py collectstatic --noinput --verbosity 1
	;;
placeholders)
	exec python -c '
import os
import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()
from django.conf import settings

for entry in settings.STATICFILES_DIRS:
    root = entry[1] if isinstance(entry, (list, tuple)) else entry
    os.makedirs(root, exist_ok=True)
'
	;;
*)
	echo "usage: static.sh collect|placeholders" >&2
	exit 2
	;;
esac
