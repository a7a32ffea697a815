"""No secret in any log line: the production web, worker and beat, driven through a whole flow.

The image's commands run natively with the stack's environment (see test_production_start.py):
gunicorn (`entrypoint.sh web`), a Celery worker and beat, and the OME emulator standing in for
OME, wired as in the stack (OME's admission webhooks call gunicorn, the portal calls OME's REST
API). A member signs up and in, goes live from the browser and from OBS, plays a private room
with a member's token and through an embed link, restreams to a destination with a key,
records, calls the REST API and the original /v1/ API (with an organization token and the
operator's), follows an invitation and a password reset link. Everything runs at DEBUG level.
Then every line the portal's processes wrote is searched for every secret used on the way, as
sent and in its usual encodings (URL-quoted, base64 as in Basic auth).

OME's own log is not searched: OME writes ingest URLs, hence stream keys, into it (docs/deploy.md).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus, urlencode, urlsplit

import pytest

from ome_emulator.testing import EmulatorProcess

from .test_production_start import (  # noqa: F401 (fixtures)
    DOMAIN,
    Server,
    database_url,
    free_port,
    production_env,
    run_entrypoint,
    stack,
    static_root,
    web_environment,
)

ROOM = "logs-room"
PASSWORD = "Tr0ub4dor&3-horse-battery"
NEW_PASSWORD = "c0rrect-Horse-battery-staple"
DESTINATION_KEY = "dest-key-" + secrets.token_hex(10)
COMPAT_PUSH_KEY = "compat-key-" + secrets.token_hex(10)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class Visitor:
    """An HTTP client that keeps cookies and CSRF like a browser, reaching gunicorn as Traefik
    does (public host name, X-Forwarded-Proto https). Cookies are Secure, so they are kept here
    rather than in a cookie jar that would not send them over plain HTTP."""

    def __init__(self, port: int, host: str = DOMAIN):
        self.port = port
        self.host = host
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict | None = None,
        body: dict | None = None,
        headers: dict[str, str] | None = None,
        expect: int | None = None,
    ) -> Answer:
        sent = {
            "Host": self.host,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "198.51.100.7",
            "User-Agent": "secret-free-logs-probe/1.0",
        }
        data = None
        if method == "POST":
            sent["Origin"] = f"https://{self.host}"
            if "csrftoken" in self.cookies:
                sent["X-CSRFToken"] = self.cookies["csrftoken"]
        if form is not None:
            data = urlencode({**form, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        sent.update(headers or {})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie = SimpleCookie()
                    cookie.load(value)
                    for key, morsel in cookie.items():
                        if morsel.value and morsel["max-age"] != "0":
                            self.cookies[key] = morsel.value
                        else:
                            self.cookies.pop(key, None)
        finally:
            connection.close()
        if expect is not None:
            assert answer.status == expect, (
                f"{method} {path} answered {answer.status}, not {expect}: {answer.body[:600]!r}"
            )
        return answer

    def get(self, path: str, **kwargs) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Answer:
        return self.request("POST", path, **kwargs)


def wait_until(predicate, *, what: str, timeout: float = 30.0, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def player_config(page: str) -> dict:
    found = re.search(r'<script id="player-config" type="application/json">(.*?)</script>', page, re.S)
    assert found, "the player page carries no player-config"
    return json.loads(found.group(1))


def query_value(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}


def shell(env: dict[str, str], code: str) -> dict:
    """Run Python in the portal's production settings (`manage shell`); its output is ours, not a log."""
    result = run_entrypoint(env, "manage", "shell", "-c", code, timeout=120)
    assert result.returncode == 0, f"manage shell failed:\n{result.stderr[-2000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def portal(production_env, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    """gunicorn, a Celery worker and beat through docker/entrypoint.sh, and the OME emulator."""
    logs = tmp_path_factory.mktemp("portal-logs")
    port = free_port()
    emulator = EmulatorProcess(
        token=production_env["OME_API_TOKEN"],
        webhook_url=f"http://127.0.0.1:{port}/ome/admission",
        webhook_secret=production_env["OME_WEBHOOK_SECRET"],
        recordings_dir=production_env["RECORDINGS_DIR"],
        webrtc_stream_delay=0.2,
    ).start()
    env = {
        **production_env,
        "PORT": str(port),
        "OME_API_URL": emulator.api_url,
        "PYTHONUNBUFFERED": "1",  # as in the image
        "LOG_LEVEL": "DEBUG",
        "CELERY_CONCURRENCY": "1",
        "CELERY_BEAT_SCHEDULE_FILE": str(logs / "celerybeat-schedule"),
        "RECONCILE_SECONDS": "1",
    }
    migrated = run_entrypoint(env, "migrate", timeout=300)
    assert migrated.returncode == 0, f"the migrate service failed:\n{migrated.stderr[-2000:]}"
    servers = {
        "web": Server(env, "web", "--log-level", "debug", log=logs / "web.log"),
        "worker": Server(env, "worker", "--without-gossip", "--without-mingle", log=logs / "worker.log"),
        "beat": Server(env, "beat", log=logs / "beat.log"),
    }
    try:
        visitor = Visitor(port, host="localhost")
        wait_until(lambda: _healthy(visitor), what=f"gunicorn's /healthz:\n{servers['web'].output()}", timeout=60)
        wait_until(
            lambda: "ready." in servers["worker"].log.read_text(errors="replace"),
            what=f"the Celery worker:\n{servers['worker'].output()}",
            timeout=60,
        )
        yield {"port": port, "env": env, "servers": servers, "ome": emulator, "logs": logs}
    finally:
        for server in (servers["beat"], servers["worker"], servers["web"]):
            server.stop()
        run_entrypoint(env, "celery", "-A", "portal", "purge", "--force", timeout=60)
        emulator.stop()


def _healthy(visitor: Visitor) -> bool:
    try:
        return visitor.get("/healthz").status == 200
    except OSError:
        return False


def encodings(secret: str) -> set[str]:
    """The secret as sent and as it would appear URL-quoted or base64-encoded (Basic auth)."""
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw), base64.b64encode(raw + b":")):
        forms.add(encoded.decode().rstrip("="))
    return {form for form in forms if len(form) >= 6}


# Tokens the portal emails (the test never sees them): no real-looking one may reach a log.
EMAILED_TOKEN_SHAPES = {
    "an invitation link": re.compile(r"/invite/(?!\*)[A-Za-z0-9_-]{20,}"),
    "a password reset link": re.compile(r"/reset/[A-Za-z0-9_-]+/(?!set-password)[0-9a-z]{1,13}-[0-9a-f]{20,}"),
}


def test_no_secret_reaches_the_logs_of_web_worker_or_beat(portal):
    port, env, ome = portal["port"], portal["env"], portal["ome"]
    secrets_used: dict[str, str] = {
        "the operator's OME_API_TOKEN": env["OME_API_TOKEN"],
        "OME_WEBHOOK_SECRET": env["OME_WEBHOOK_SECRET"],
        "SECRET_KEY": env["SECRET_KEY"],
        "FIELD_ENCRYPTION_KEY": env["FIELD_ENCRYPTION_KEY"],
        "the member's password": PASSWORD,
        "the member's new password": NEW_PASSWORD,
        "the destination's stream key": DESTINATION_KEY,
        "the stream key of a push started through /v1/": COMPAT_PUSH_KEY,
    }
    email = "owner@example.test"

    # Sign up, sign out, sign in with the login form (the password is in the POST).
    member = Visitor(port)
    member.get("/accounts/signup/", expect=200)
    member.post(
        "/accounts/signup/",
        form={"full_name": "Olive Owner", "email": email, "password": PASSWORD, "organization_name": "Log Probes"},
        expect=302,
    )
    member.post("/accounts/logout/", form={}, expect=302)
    member.get("/accounts/login/", expect=200)
    member.post("/accounts/login/", form={"username": email, "password": "a wrong password"}, expect=200)
    member.post("/accounts/login/", form={"username": email, "password": PASSWORD}, expect=302)
    secrets_used["the session cookie"] = member.cookies["sessionid"]

    member.post(
        "/rooms/new/",
        form={"title": "Log probe", "public_id": ROOM, "description": "", "visibility": "private"},
        expect=302,
    )
    member.get(f"/rooms/{ROOM}/", expect=200)

    def room_state() -> str:
        return member.get(f"/rooms/{ROOM}/status", expect=200).json()["state"]

    # Go live from the browser: a single-use publish credential in the WebRTC URL.
    publish_url = member.post(f"/rooms/{ROOM}/publish-credential", expect=200).json()["url"]
    secrets_used["the publish credential"] = query_value(publish_url, "credential")
    ome.publish(publish_url)
    wait_until(lambda: room_state() == "live", what="the room to go live from the browser")

    # A member plays the private room with a playback token (WebRTC and LL-HLS).
    sources = player_config(member.get(f"/watch/{ROOM}", expect=200).text)
    secrets_used["a member's playback token"] = query_value(sources["webrtcUrl"], "token")
    ome.play(sources["webrtcUrl"])
    ome.play(sources["llhlsUrl"])
    status = member.get(f"/watch/{ROOM}/status", expect=200).json()
    secrets_used["a refreshed playback token"] = query_value(status["sources"]["webrtcUrl"], "token")

    # An embed link, opened by someone who is not a member.
    page = member.post(f"/rooms/{ROOM}/embed-links", form={"lifetime": "3600"}, expect=200).text
    link_url = re.search(r'value="([^"]+)" id="embed-link-url"', page).group(1).replace("&amp;", "&")
    secrets_used["the embed link token"] = query_value(link_url, "link")
    stranger = Visitor(port)
    embed_path = urlsplit(link_url).path + "?" + urlsplit(link_url).query
    config = player_config(stranger.get(embed_path, expect=200).text)
    secrets_used["an embed link's playback token"] = query_value(config["webrtcUrl"], "token")
    ome.play(config["webrtcUrl"])
    stranger.get(config["statusUrl"], expect=200)
    stranger.get(f"/embed/{ROOM}?link=not-a-real-link-{secrets.token_hex(8)}", expect=403)
    ome.play(f"wss://{DOMAIN}:3334/app/{ROOM}?token=forged-{secrets.token_hex(8)}", expect=403)

    ome.unpublish(ROOM)
    wait_until(lambda: room_state() == "offline", what="the room to go offline")

    # Go live from OBS with the stream key; a second encoder with the same key is refused.
    keys = member.post(f"/rooms/{ROOM}/stream-key", expect=200).json()
    secrets_used["the room's stream key"] = keys["stream_key"]
    wrong_key = "sk" + secrets.token_hex(16)
    secrets_used["a wrong stream key"] = wrong_key
    ome.publish(f"rtmp://{DOMAIN}:1935/app/{wrong_key}", expect=403)
    ome.publish(f"rtmp://{DOMAIN}:1935/app/{keys['stream_key']}")
    wait_until(lambda: room_state() == "live", what="the room to go live from OBS")
    ome.publish(f"rtmp://{DOMAIN}:1935/app/{keys['stream_key']}", expect=403)

    # Restream to a destination with a key: the worker's task calls OME's startPush.
    member.get(f"/rooms/{ROOM}/restream/destinations/new", expect=200)
    member.post(
        f"/rooms/{ROOM}/restream/destinations/new",
        form={
            "name": "Probe server",
            "platform": "custom",
            "url": "rtmp://live.example.com/app",
            "stream_key": DESTINATION_KEY,
            "enabled": "on",
        },
        expect=302,
    )
    destination = member.get(f"/rooms/{ROOM}/restream/status", expect=200).json()["destinations"][0]
    member.post(f"/rooms/{ROOM}/restream/destinations/{destination['id']}/start", form={}, expect=302)
    wait_until(
        lambda: any(push["streamKey"] == DESTINATION_KEY and push["state"] == "pushing" for push in ome.pushes()),
        what="the push to the destination to run in OME",
    )

    # Record.
    member.post(f"/rooms/{ROOM}/recordings/start", form={}, expect=302)
    wait_until(lambda: ome.records(), what="the recording to start in OME")

    # API tokens: the REST API with Bearer, the original /v1/ API with Basic (also the operator's).
    page = member.post("/api-tokens/", form={"name": "log probe", "role": "admin"}, expect=200).text
    api_token = re.search(r'id="new-token-value" type="text" value="(sst_[^"]+)"', page).group(1)
    secrets_used["the API token"] = api_token
    program = Visitor(port, host=f"api.{DOMAIN}")
    program.get("/api/v1/rooms/", headers={"Authorization": f"Bearer {api_token}"}, expect=200)
    recordings = program.get("/api/v1/recordings/", headers={"Authorization": f"Bearer {api_token}"}, expect=200)
    streams = "/v1/vhosts/default/apps/app/streams"
    program.get(streams, headers=basic(api_token), expect=200)
    program.get(streams, headers=basic(env["OME_API_TOKEN"]), expect=200)
    start_push = {
        "id": "probe-push",
        "stream": {"name": ROOM},
        "protocol": "rtmp",
        "url": "rtmp://live.example.com/other",
        "streamKey": COMPAT_PUSH_KEY,
    }
    program.post("/v1/vhosts/default/apps/app:startPush", body=start_push, headers=basic(api_token), expect=200)
    program.post("/v1/vhosts/default/apps/app:pushes", body={}, headers=basic(env["OME_API_TOKEN"]))
    wrong_token = "sst_" + secrets.token_urlsafe(32)
    secrets_used["a wrong API token"] = wrong_token
    program.get("/api/v1/rooms/", headers={"Authorization": f"Bearer {wrong_token}"}, expect=401)
    program.get(streams, headers=basic(wrong_token), expect=401)
    program.get(f"/api/v1/rooms/?token={api_token}", expect=401)

    # Stop the recording and the push, then end the stream.
    listed = recordings.json()
    recording = (listed["results"] if isinstance(listed, dict) else listed)[0]
    member.post(f"/rooms/{ROOM}/recordings/{recording['id']}/stop", form={}, expect=302)
    push_id = member.get(f"/rooms/{ROOM}/restream/status", expect=200).json()["destinations"][0]["push"]
    member.post(f"/rooms/{ROOM}/restream/pushes/{push_id}/stop", form={}, expect=302)
    program.post("/v1/vhosts/default/apps/app:stopPush", body={"id": "probe-push"}, headers=basic(api_token))
    ome.unpublish(ROOM)
    wait_until(lambda: room_state() == "offline", what="the room to go offline after OBS")

    # Invitations: one emailed from the members page, one opened by someone who has an account
    # (sent to the login page with the link in `next`), and a wrong token (404).
    member.post("/members/", form={"email": "new.member@example.test", "role": "streamer"}, expect=302)
    invitation = shell(
        env,
        "import json\n"
        "from organizations.models import Invitation, Membership, User\n"
        f"owner = Membership.objects.get(user__email='{email}')\n"
        "User.objects.create_user(email='existing@example.test', password=None)\n"
        "token, digest = Invitation.new_token()\n"
        "Invitation.objects.create(organization=owner.organization, email='existing@example.test', role='streamer',"
        " token_digest=digest, invited_by=owner.user, expires_at=Invitation.default_expiry())\n"
        "print(json.dumps({'token': token}))",
    )
    secrets_used["an invitation token"] = invitation["token"]
    invited = Visitor(port)
    login_url = invited.get(f"/invite/{invitation['token']}/", expect=302).headers["location"]
    invited.get(login_url, expect=200)
    bad_invitation = secrets.token_urlsafe(32)
    secrets_used["a wrong invitation token"] = bad_invitation
    invited.get(f"/invite/{bad_invitation}/", expect=404)

    # Password reset: asked (the email goes out with a link), then the link is opened.
    forgetful = Visitor(port)
    forgetful.get("/accounts/password_reset/", expect=200)
    forgetful.post("/accounts/password_reset/", form={"email": email}, expect=302)
    reset = shell(
        env,
        "import json\n"
        "from django.contrib.auth.tokens import default_token_generator\n"
        "from django.utils.encoding import force_bytes\n"
        "from django.utils.http import urlsafe_base64_encode\n"
        "from organizations.models import User\n"
        f"user = User.objects.get(email='{email}')\n"
        "print(json.dumps({'uid': urlsafe_base64_encode(force_bytes(user.pk)),"
        " 'token': default_token_generator.make_token(user)}))",
    )
    secrets_used["a password reset token"] = reset["token"]
    set_password = forgetful.get(f"/accounts/reset/{reset['uid']}/{reset['token']}/", expect=302).headers["location"]
    forgetful.get(set_password, expect=200)
    forgetful.post(set_password, form={"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, expect=302)

    # Let the worker finish (push stopped, recording finished), then stop everything: logs flushed.
    wait_until(lambda: not [p for p in ome.pushes() if p["state"] == "pushing"], what="the pushes to stop")
    wait_until(lambda: not ome.records(), what="the recording to finish")
    time.sleep(2)
    servers = portal["servers"]
    for name in ("beat", "worker", "web"):
        servers[name].stop()
    logs = {name: server.log.read_text(errors="replace") for name, server in servers.items()}

    # The flow really ran and was logged (a test that finds nothing in empty logs proves nothing).
    assert '"GET /v1/vhosts/default/apps/app/streams HTTP/1.1" 200' in logs["web"], logs["web"][-3000:]
    assert "POST /ome/admission" in logs["web"]
    assert re.search(r"broadcasts\.tasks\.start_push_task\[[^\]]+\] succeeded", logs["worker"]), logs["worker"][-3000:]
    assert "recordings.tasks.start_recording_task" in logs["worker"]
    assert "Sending due task reconcile-ome" in logs["beat"]

    leaks = []
    for process, text in logs.items():
        for what, secret in secrets_used.items():
            for form in encodings(secret):
                if form in text:
                    line = next(line for line in text.splitlines() if form in line)
                    leaks.append(f"{what} ({form!r}) is in the {process} log:\n    {line[:400]}")
                    break
        for what, shape in EMAILED_TOKEN_SHAPES.items():
            found = shape.search(text)
            if found:
                line = next(line for line in text.splitlines() if shape.search(line))
                leaks.append(f"{what} ({found.group(0)!r}) is in the {process} log:\n    {line[:400]}")
    assert not leaks, (
        "secrets in the portal's logs ("
        + ", ".join(f"{name}: {Path(server.log)}" for name, server in servers.items())
        + "):\n"
        + "\n".join(leaks)
    )
