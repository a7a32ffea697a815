#!/bin/sh
# Entrypoint of the portal image: one image, one role per stack service.
#
#   entrypoint.sh web        gunicorn (portal.wsgi) on PORT, once the database is migrated
#   entrypoint.sh worker     Celery worker (`worker --queues recordings`: the recordings worker, next to OME's volume)
#   entrypoint.sh beat       Celery beat (the stack runs exactly one)
#   entrypoint.sh migrate    apply migrations once per deploy (the stack's one-shot `migrate` service)
#   entrypoint.sh manage ... any manage.py command, e.g. `manage createsuperuser` (also /usr/local/bin/manage)
#   entrypoint.sh CMD ...    run CMD
#
# Logs carry no secrets: gunicorn's access log (client address, time, request line with secret
# query values and path segments masked, status, size, duration in ms, user agent) never names
# the HTTP Basic user, which on the original /v1/ API is the whole API token (portal/redaction.py).
#
# Only the migrate service migrates: web, worker and beat wait until no migration is pending, so
# replicas never race each other on the schema and never serve a half-migrated database.
set -eu

cd "$(dirname "$0")/.."

# DATABASE_URL may be left empty when the stack's own PostgreSQL is used: build it from the
# PostgreSQL password (URL-quoted, so any password works).
if [ -z "${DATABASE_URL:-}" ] && [ -n "${POSTGRES_PASSWORD:-}" ]; then
	password=$(python -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["POSTGRES_PASSWORD"], safe=""))')
	DATABASE_URL="postgres://${POSTGRES_USER:-portal}:${password}@${POSTGRES_HOST:-postgres}:${POSTGRES_PORT:-5432}/${POSTGRES_DB:-portal}"
	export DATABASE_URL
fi
# The three-node layout (docs/deploy.md): encoders reach OME's node under a name of its own, which
# the room pages show in the RTMP and SRT URLs.
if [ -n "${INGEST_DOMAIN:-}" ]; then
	OME_RTMP_URL="rtmp://${INGEST_DOMAIN}:1935"
	OME_SRT_URL="srt://${INGEST_DOMAIN}:9999"
	export OME_RTMP_URL OME_SRT_URL
fi
# The stack passes optional settings through even when empty; unset, they take the portal's default.
[ -n "${DATABASE_URL:-}" ] || unset DATABASE_URL
[ -n "${DEFAULT_FROM_EMAIL:-}" ] || unset DEFAULT_FROM_EMAIL

wait_for_migrations() {
	deadline=$(($(date +%s) + ${MIGRATION_WAIT_SECONDS:-300}))
	until python manage.py migrate --check >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "entrypoint: the database is unreachable or migrations are still pending; is the migrate service done?" >&2
			python manage.py migrate --check || true
			exit 1
		fi
		echo "entrypoint: waiting for the database and its migrations..."
		sleep 3
	done
}

role=${1:-web}
[ "$#" -gt 0 ] && shift

# Prometheus counters of every process of this container add up in one folder (portal/metrics.py);
# it starts empty, so figures never outlive the container's processes.
metrics_dir() {
	PROMETHEUS_MULTIPROC_DIR=${METRICS_DIR:-/tmp/prometheus}/$role
	rm -rf "$PROMETHEUS_MULTIPROC_DIR"
	mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
	export PROMETHEUS_MULTIPROC_DIR
}

case "$role" in
web)
	wait_for_migrations
	metrics_dir
	exec gunicorn portal.wsgi:application \
		--bind "0.0.0.0:${PORT:-8000}" \
		--workers "${GUNICORN_WORKERS:-3}" \
		--threads "${GUNICORN_THREADS:-4}" \
		--timeout "${GUNICORN_TIMEOUT:-30}" \
		--graceful-timeout 30 \
		--forwarded-allow-ips "*" \
		--worker-tmp-dir /dev/shm \
		--access-logfile - \
		--access-logformat '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"' \
		--logger-class portal.gunicorn_logger.Logger \
		"$@"
	;;
worker)
	wait_for_migrations
	metrics_dir
	# The worker's own /metrics (retries, failures, OME calls made by tasks), internal network only.
	export METRICS_PORT="${METRICS_PORT:-9808}"
	exec celery -A portal worker --loglevel "${LOG_LEVEL:-INFO}" --concurrency "${CELERY_CONCURRENCY:-2}" "$@"
	;;
beat)
	wait_for_migrations
	exec celery -A portal beat --loglevel "${LOG_LEVEL:-INFO}" \
		--schedule "${CELERY_BEAT_SCHEDULE_FILE:-/tmp/celerybeat-schedule}" --pidfile= "$@"
	;;
migrate)
	exec python manage.py migrate --noinput "$@"
	;;
manage)
	exec python manage.py "$@"
	;;
*)
	exec "$role" "$@"
	;;
esac
