#!/bin/sh
# Starts OvenMediaEngine 0.21 (OME's official image) with the Streaming Stack's Server.xml, rendered
# from docker/ome/Server.xml.template and the environment at every start, so one template serves
# the origin and the edges (OME_ROLE) and no hand-kept copy can drift from the portal's settings.
#
#   entrypoint.sh           render, then exec OME (what the stack runs)
#   entrypoint.sh render    print the rendered Server.xml and exit (used by the tests)
#   entrypoint.sh CMD ...   run CMD instead (debugging)
#
# POSIX sh and awk only: the OME image has no Python.
set -eu

TEMPLATE=${OME_TEMPLATE:-/opt/streaming/Server.xml.template}
OME_HOME=${OME_HOME:-/opt/ovenmediaengine/bin}
CONF_DIR=${OME_CONF_DIR:-$OME_HOME/streaming_conf}

fail() {
	echo "ome-entrypoint: $*" >&2
	exit 64
}

OME_ROLE=${OME_ROLE:-origin}
case "$OME_ROLE" in
origin | edge) ;;
*) fail "OME_ROLE must be origin or edge, not '$OME_ROLE'" ;;
esac

# The original stack's variable name is accepted for the REST API token.
OME_API_TOKEN=${OME_API_TOKEN:-${API_ACCESS_TOKEN:-}}
# Without a fixed public address OME asks the STUN server for it (OME's own PublicIP macro).
# shellcheck disable=SC2016  # the dollar-brace macro is for OME, not for this shell
OME_ICE_HOST=${OME_HOST_IP:-'${PublicIP}'}
OME_STUN_SERVER=${OME_STUN_SERVER:-stun.ovenmediaengine.com:13478}
OME_ICE_PORTS=${OME_ICE_PORTS:-10000-10009}
OME_TCP_ICE_PORT=${OME_TCP_ICE_PORT:-10000}
OME_TCP_RELAY_PORT=${OME_TCP_RELAY_PORT:-3478}
OME_VHOST=${OME_VHOST:-default}
OME_APP=${OME_APP:-app}
OME_RTMP_VARIANT_SUFFIX=${OME_RTMP_VARIANT_SUFFIX:-_rtmp}
OME_RECORDINGS_DIR=${OME_RECORDINGS_DIR:-/recordings}
OME_WEBHOOK_URL=${OME_WEBHOOK_URL:-http://web:8000/ome/admission}
OME_TRANSCODE_URL=${OME_TRANSCODE_URL:-http://web:8000/ome/transcode}
OME_WEBHOOK_SECRET=${OME_WEBHOOK_SECRET:-}
OME_ORIGIN_HOST=${OME_ORIGIN_HOST:-ome}
OME_P2P_PEERS=${OME_P2P_PEERS:-2}
case "$(printf '%s' "${OME_P2P:-false}" | tr '[:upper:]' '[:lower:]')" in
true | 1 | yes | on) OME_P2P=true ;;
*) OME_P2P=false ;;
esac
export OME_ROLE OME_API_TOKEN OME_ICE_HOST OME_STUN_SERVER OME_ICE_PORTS OME_TCP_ICE_PORT OME_TCP_RELAY_PORT OME_VHOST \
	OME_APP OME_RTMP_VARIANT_SUFFIX OME_RECORDINGS_DIR OME_WEBHOOK_URL OME_TRANSCODE_URL OME_WEBHOOK_SECRET OME_ORIGIN_HOST \
	OME_P2P OME_P2P_PEERS

render() {
	[ -r "$TEMPLATE" ] || fail "cannot read the template $TEMPLATE"
	awk -v role="$OME_ROLE" -v p2p="$OME_P2P" '
		function escape_xml(s) {
			gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s)
			gsub(/"/, "\\&quot;", s); gsub(/\047/, "\\&apos;", s)
			return s
		}
		function condition_holds(name) {
			if (name == "origin" || name == "edge") return role == name
			if (name == "p2p") return p2p == "true"
			printf "ome-entrypoint: line %d: unknown condition @if %s\n", NR, name > "/dev/stderr"
			broken = 1
			return 0
		}
		BEGIN { depth = 0; keep[0] = 1 }
		/^[ \t]*<!-- @if [a-z0-9_]+ -->[ \t]*$/ {
			name = $0; sub(/^[ \t]*<!-- @if /, "", name); sub(/ -->.*$/, "", name)
			depth++; keep[depth] = keep[depth - 1] && condition_holds(name)
			next
		}
		/^[ \t]*<!-- @endif -->[ \t]*$/ {
			if (depth == 0) { printf "ome-entrypoint: line %d: @endif without @if\n", NR > "/dev/stderr"; broken = 1 }
			else depth--
			next
		}
		!keep[depth] { next }
		{
			rest = $0; out = ""
			# Our variables are ${NAME} in capitals; OME macros (${OriginStreamName} ...) never match.
			while (match(rest, /[$][{][A-Z][A-Z0-9_]*[}]/)) {
				name = substr(rest, RSTART + 2, RLENGTH - 3)
				value = ENVIRON[name]
				if (value == "") missing[name] = 1
				out = out substr(rest, 1, RSTART - 1) escape_xml(value)
				rest = substr(rest, RSTART + RLENGTH)
			}
			print out rest
		}
		END {
			if (depth != 0) { print "ome-entrypoint: @if without @endif" > "/dev/stderr"; broken = 1 }
			for (name in missing) { printf "ome-entrypoint: %s is empty or not set\n", name > "/dev/stderr"; broken = 1 }
			if (broken) exit 1
		}
	' "$TEMPLATE"
}

if [ "${1:-}" = "render" ]; then
	render
	exit 0
fi
if [ "$#" -gt 0 ]; then
	exec "$@"
fi

mkdir -p "$CONF_DIR"
render >"$CONF_DIR/Server.xml.new" || fail "Server.xml was not rendered (see above); OME not started"
mv "$CONF_DIR/Server.xml.new" "$CONF_DIR/Server.xml"
if [ ! -e "$CONF_DIR/Logger.xml" ] && [ -e "$OME_HOME/origin_conf/Logger.xml" ]; then
	cp "$OME_HOME/origin_conf/Logger.xml" "$CONF_DIR/Logger.xml"
fi

if [ "$OME_ROLE" = origin ]; then
	# OME runs as root; the portal (uid/gid 1000) must be able to read and delete recordings.
	# New files get group RECORDINGS_GID through the setgid folder and group write through umask.
	mkdir -p "$OME_RECORDINGS_DIR"
	chgrp "${RECORDINGS_GID:-1000}" "$OME_RECORDINGS_DIR"
	chmod 2775 "$OME_RECORDINGS_DIR"
	umask 0002
fi

echo "ome-entrypoint: starting OvenMediaEngine as $OME_ROLE (app '$OME_APP', vhost '$OME_VHOST')"
cd "$OME_HOME"
exec ./OvenMediaEngine -c "$CONF_DIR"
