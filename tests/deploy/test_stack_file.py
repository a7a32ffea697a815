"""docker/stack.yml: what an operator gets from `docker stack deploy -c docker/stack.yml streaming`.

No Docker engine runs here: the file is validated against the Compose Specification schema
(offline), loaded with Compose's interpolation, and read for what the deploy promises.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess

import pytest
import yaml

from .stackfile import (
    DOCKER_DIR,
    ENV_EXAMPLE,
    OPERATOR_ENV,
    STACK_FILE,
    VENV_BIN,
    InterpolationError,
    base_process_env,
    load_stack,
    published_ports,
    raw_stack,
    service_environment,
    variables_used,
)

LONG_RUNNING = ["traefik", "web", "worker", "recordings-worker", "beat", "ome", "ome-edge", "postgres", "redis"]


@pytest.fixture(scope="module")
def stack():
    return load_stack()


def labels(service: dict) -> dict[str, str]:
    return dict(item.split("=", 1) for item in service["deploy"].get("labels", []))


def test_stack_file_validates_against_the_compose_specification(tmp_path):
    check = VENV_BIN / "check-jsonschema"
    if not check.exists():
        check = shutil.which("check-jsonschema")
    assert check, "check-jsonschema is missing: it is in requirements-dev.txt (make test installs it)"
    # As written (with ${...}) and as Docker sees it after interpolation.
    interpolated = tmp_path / "stack.interpolated.yml"
    interpolated.write_text(yaml.safe_dump(load_stack(), sort_keys=False))
    for path in (STACK_FILE, interpolated):
        result = subprocess.run(
            [str(check), "--builtin-schema", "vendor.compose-spec", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{path.name} breaks the Compose Specification:\n{result.stdout}{result.stderr}"


def test_docker_compose_accepts_the_stack_file(tmp_path):
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI on this machine")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("the docker CLI here has no compose plugin (docker compose version failed)")
    env_file = tmp_path / "operator.env"
    # Plain values: this checks the file's structure, quoting is tested with the real secrets elsewhere.
    env_file.write_text("".join(f"{key}=value-of-{key.lower()}\n" for key in OPERATOR_ENV))
    result = subprocess.run(
        [docker, "compose", "--env-file", str(env_file), "-f", str(STACK_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=DOCKER_DIR,
    )
    assert result.returncode == 0, result.stderr


def test_deploying_without_a_required_secret_stops_with_a_clear_message():
    for name in ("DOMAIN", "LE_ACM_EMAIL", "API_ACCESS_TOKEN", "SECRET_KEY", "FIELD_ENCRYPTION_KEY",
                 "OME_WEBHOOK_SECRET", "POSTGRES_PASSWORD"):  # fmt: skip
        env = {key: value for key, value in OPERATOR_ENV.items() if key != name}
        with pytest.raises(InterpolationError, match=rf"{name}: set {name} \(see docker/.env.example\)"):
            load_stack(env)


def test_every_variable_the_stack_reads_is_documented_in_env_example():
    text = ENV_EXAMPLE.read_text()
    headers = dict(re.findall(r"^# ([A-Z][A-Z0-9_]*) \((.+)\)$", text, flags=re.MULTILINE))
    used = variables_used()
    for name, uses in used.items():
        assert name in headers, f"{name} is used in docker/stack.yml but not documented in docker/.env.example"
        assert re.search(rf"^#?{name}=", text, flags=re.MULTILINE), f"docker/.env.example has no {name}= line"
        documented = headers[name]
        operators = {operator for operator, _ in uses}
        if ":?" in operators:
            assert documented.startswith("required"), f"{name} is required by the stack: say so in .env.example"
            continue
        defaults = {argument or "" for operator, argument in uses if operator == ":-"}
        assert len(defaults) == 1, f"{name} has different defaults in docker/stack.yml: {defaults}"
        assert documented.startswith("default: "), f"{name}: document its default as 'default: VALUE'"
        default = documented.removeprefix("default: ").split(", secret")[0]
        expected = defaults.pop() or "empty"
        assert default == expected, f"{name}: docker/.env.example says {default!r}, docker/stack.yml uses {expected!r}"
    assert not set(headers) - set(used), f"documented but unused: {sorted(set(headers) - set(used))}"
    for secret in ("API_ACCESS_TOKEN", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "OME_WEBHOOK_SECRET", "POSTGRES_PASSWORD"):
        assert "secret" in headers[secret], f"{secret} must be marked secret in docker/.env.example"
        assert re.search(rf"^{secret}=$", text, flags=re.MULTILINE), f"docker/.env.example must not ship a {secret}"


def test_every_long_running_service_has_a_health_check_restart_policy_and_limits(stack):
    services = stack["services"]
    assert sorted(services) == sorted([*LONG_RUNNING, "migrate"])
    for name in LONG_RUNNING:
        service = services[name]
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert service["deploy"]["restart_policy"]["condition"] == "any", f"{name} is not restarted"
        limits = service["deploy"]["resources"]["limits"]
        assert limits.get("cpus") and limits.get("memory"), f"{name} has no CPU/memory limit"
    # The one-shot migration is retried when it fails, and not restarted once it succeeded.
    migrate = services["migrate"]
    assert migrate["deploy"]["restart_policy"]["condition"] == "on-failure"
    assert migrate["deploy"]["resources"]["limits"]["memory"]


def test_third_party_images_are_pinned_to_a_version(stack):
    for name, service in stack["services"].items():
        image = service["image"]
        if image.startswith("streaming-portal:"):
            continue  # our own build; operators tag it (docs/deploy.md)
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: pin {image} to a version"
    # OME moved to OvenMediaLabs: the old image name (airensoft/...) stops at 0.20.x.
    assert stack["services"]["ome"]["image"] == stack["services"]["ome-edge"]["image"]
    assert stack["services"]["ome"]["image"] == "ovenmedialabs/ovenmediaengine:v0.21.0"
    assert stack["services"]["traefik"]["image"].startswith("traefik:v3")


def test_data_lives_in_named_volumes(stack):
    mounts = {name: service.get("volumes", []) for name, service in stack["services"].items()}
    assert "postgres-data:/var/lib/postgresql/data" in mounts["postgres"]
    assert "redis-data:/data" in mounts["redis"]
    assert "letsencrypt:/letsencrypt" in mounts["traefik"]
    for name in ("ome", "web", "worker", "recordings-worker"):
        assert "recordings:/recordings" in mounts[name], f"{name} must share the recordings volume"
    assert set(stack["volumes"]) == {"postgres-data", "redis-data", "recordings", "letsencrypt"}


def test_web_runs_two_gunicorn_replicas_and_beat_exactly_one(stack):
    services = stack["services"]
    assert services["web"]["command"] == ["web"]
    assert int(services["web"]["deploy"]["replicas"]) == 2
    beat = raw_stack()["services"]["beat"]
    assert beat["deploy"]["replicas"] == 1, "beat's replica count must not be configurable"
    assert beat["deploy"]["update_config"]["order"] == "stop-first", "two beats would run during an update"
    assert services["worker"]["command"] == ["worker"]


def test_only_the_migrate_service_migrates(stack):
    commands = {name: service.get("command") for name, service in stack["services"].items()}
    assert commands["migrate"] == ["migrate"]
    assert [name for name, command in commands.items() if command and "migrate" in command] == ["migrate"]
    entrypoint = (DOCKER_DIR / "entrypoint.sh").read_text()
    assert entrypoint.count("manage.py migrate --noinput") == 1
    for role in ("web", "worker", "beat"):
        block = entrypoint.split(f"\n{role})", 1)[1].split(";;", 1)[0]
        assert "wait_for_migrations" in block, f"{role} must wait for the migrate service"


def test_traefik_serves_the_portal_and_api_over_https_with_lets_encrypt(stack):
    traefik = stack["services"]["traefik"]
    flags = traefik["command"]
    assert "--entrypoints.web.http.redirections.entrypoint.to=websecure" in flags
    assert "--entrypoints.web.http.redirections.entrypoint.scheme=https" in flags
    assert f"--certificatesresolvers.letsencrypt.acme.email={OPERATOR_ENV['LE_ACM_EMAIL']}" in flags
    assert "--certificatesresolvers.letsencrypt.acme.storage=/letsencrypt/acme.json" in flags
    assert {(p["published"], p["protocol"]) for p in published_ports(traefik)} == {
        (80, "tcp"),
        (443, "tcp"),
        (3334, "tcp"),
    }

    web = labels(stack["services"]["web"])
    rule = web["traefik.http.routers.portal.rule"]
    domain = OPERATOR_ENV["DOMAIN"]
    assert f"Host(`{domain}`)" in rule and f"Host(`api.{domain}`)" in rule
    assert "!PathPrefix(`/ome/`)" in rule, "OME's webhook endpoint must not be reachable from the internet"
    assert "!Path(`/metrics`)" in rule, "operators' metrics must not be reachable from the internet"
    assert web["traefik.http.routers.portal.entrypoints"] == "websecure"
    assert web["traefik.http.services.portal.loadbalancer.server.port"] == "8000"

    ome = labels(stack["services"]["ome"])
    assert ome["traefik.http.routers.ome.rule"] == f"Host(`{domain}`)"
    assert ome["traefik.http.routers.ome.entrypoints"] == "ome"
    assert "--entrypoints.ome.address=:3334" in flags
    assert "--entrypoints.ome.http.tls.certresolver=letsencrypt" in flags


def test_webrtc_players_go_to_edges_and_publishers_stay_on_the_origin(stack):
    edge = labels(stack["services"]["ome-edge"])
    rule = edge["traefik.http.routers.ome-edge.rule"]
    assert "HeaderRegexp(`Upgrade`, `(?i)websocket`)" in rule
    assert "!(Query(`direction`, `send`) || Query(`direction`, `whip`))" in rule
    assert int(edge["traefik.http.routers.ome-edge.priority"]) > len(
        labels(stack["services"]["ome"])["traefik.http.routers.ome.rule"]
    )
    assert int(stack["services"]["ome-edge"]["deploy"]["replicas"]) == 0, "edges are optional"
    assert stack["services"]["ome-edge"]["deploy"]["placement"]["max_replicas_per_node"] == 1


def test_media_ports_go_straight_to_ome_and_internal_ports_stay_internal(stack):
    services = stack["services"]
    for name, service in services.items():
        for port in published_ports(service):
            assert port["mode"] == "host", f"{name} publishes {port['published']} through the routing mesh"
            if port["protocol"] == "udp":
                assert name in ("ome", "ome-edge"), f"{name} publishes UDP"
    ome = {(p["published"], p["protocol"]) for p in published_ports(services["ome"])}
    # RTMP, SRT, TURN relay, WebRTC over UDP and direct TCP ICE (OME 0.21).
    assert {(1935, "tcp"), (9999, "udp"), (3478, "tcp"), (10000, "tcp")} <= ome
    assert {(port, "udp") for port in range(10000, 10010)} <= ome
    edge = {(p["published"], p["protocol"]) for p in published_ports(services["ome-edge"])}
    assert {(3479, "tcp"), (10010, "tcp")} <= edge
    assert {(port, "udp") for port in range(10010, 10020)} <= edge
    # REST API (8081), OVT (9000) and signalling (3333, behind Traefik) are never published.
    published = {p["published"] for service in services.values() for p in published_ports(service)}
    assert not published & {8081, 8082, 9000, 3333, 8000, 5432, 6379}
    for name in ("postgres", "redis", "worker", "recordings-worker", "beat", "migrate"):
        assert services[name]["networks"] == ["internal"], f"{name} must only be on the internal network"
    assert "internal" in services["ome"]["networks"] and "internal" in services["web"]["networks"]


def test_the_portal_and_ome_share_their_settings(stack):
    web = service_environment(stack, "web")
    ome = service_environment(stack, "ome")
    assert web["OME_API_URL"] == "http://ome:8081"
    assert web["OME_API_TOKEN"] == ome["OME_API_TOKEN"] == OPERATOR_ENV["API_ACCESS_TOKEN"]
    assert web["OME_WEBHOOK_SECRET"] == ome["OME_WEBHOOK_SECRET"] == OPERATOR_ENV["OME_WEBHOOK_SECRET"]
    for name in ("OME_VHOST", "OME_APP", "OME_RTMP_VARIANT_SUFFIX", "OME_RECORDINGS_DIR"):
        assert web[name] == ome[name], f"{name} differs between the portal and OME"
    assert ome["OME_WEBHOOK_URL"].startswith("http://web:8000/")
    assert "web" in web["ALLOWED_HOSTS"].split(","), "Django would answer OME's webhooks with 400"
    for name in ("worker", "recordings-worker", "beat", "migrate"):
        assert service_environment(stack, name) == web, f"{name} must get the same settings as web"
    edge = service_environment(stack, "ome-edge")
    assert edge["OME_ROLE"] == "edge" and ome["OME_ROLE"] == "origin"
    assert edge["OME_ORIGIN_HOST"] == "ome"


def test_ome_gets_its_configuration_from_the_repository_files(stack):
    for name in ("ome", "ome-edge"):
        service = stack["services"][name]
        assert service["entrypoint"] == ["/bin/sh", "/opt/streaming/entrypoint.sh"]
        targets = {config["source"]: config["target"] for config in service["configs"]}
        assert targets == {
            "ome_template": "/opt/streaming/Server.xml.template",
            "ome_entrypoint": "/opt/streaming/entrypoint.sh",
        }


def test_config_names_change_with_the_files_they_hold(stack):
    # Swarm refuses to update a config in place, so each content gets its own name.
    for key, config in stack["configs"].items():
        content = (DOCKER_DIR / config["file"]).read_bytes()
        digest = hashlib.sha256(content).hexdigest()[:8]
        assert config["name"].endswith(f"-{digest}"), (
            f"{config['file']} changed: rename config {key} to end with -{digest} in docker/stack.yml"
        )


# --- Placement: the OME origin's node, and a web tier that runs anywhere with a bucket ------------

OME_ORIGIN = "node.labels.streaming.ome-origin == true"
BUCKET_LAYOUT = {
    **OPERATOR_ENV,
    "RECORDINGS_STORAGE": "s3",
    "RECORDINGS_S3_BUCKET": "streaming-recordings",
    "RECORDINGS_S3_REGION": "eu-central-1",
    "RECORDINGS_S3_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID0001",
    "RECORDINGS_S3_SECRET_ACCESS_KEY": "bucket-secret-access-key-example-0123456789",
    "PORTAL_PLACEMENT": "node.role==manager",
    "INGEST_DOMAIN": "ingest.stream.example.test",
}


def constraints(stack: dict, name: str) -> list[str]:
    return [
        " ".join(item.split()) for item in stack["services"][name]["deploy"].get("placement", {}).get("constraints", [])
    ]


def test_a_small_recordings_worker_runs_next_to_ome_and_its_volume_on_a_queue_of_its_own(stack):
    worker = stack["services"]["recordings-worker"]
    assert worker["command"] == ["worker", "--queues", "recordings"]
    assert int(worker["deploy"]["replicas"]) == 1
    assert constraints(stack, "recordings-worker") == constraints(stack, "ome") == [OME_ORIGIN]
    assert "recordings:/recordings" in worker["volumes"]
    assert worker["healthcheck"]["test"] == ["CMD", "python", "/app/docker/healthcheck.py", "worker"]
    # The general worker consumes Celery's default queue only, never the recordings queue.
    assert stack["services"]["worker"]["command"] == ["worker"]


def test_with_local_recordings_web_and_worker_stay_next_to_the_volume():
    stack = load_stack()
    for name in ("web", "worker"):
        assert constraints(stack, name) == ["node.labels.streaming.ome-origin==true"], name
    assert service_environment(stack, "web")["RECORDINGS_STORAGE"] == "local"


def test_with_a_bucket_web_worker_and_beat_run_on_any_node_and_only_the_recordings_worker_is_pinned():
    stack = load_stack(BUCKET_LAYOUT)
    for name in ("web", "worker", "beat"):
        assert not any("ome-origin" in constraint for constraint in constraints(stack, name)), name
    assert constraints(stack, "web") == constraints(stack, "worker") == ["node.role==manager"]
    assert constraints(stack, "beat") == []
    pinned = sorted(name for name in stack["services"] if OME_ORIGIN in constraints(stack, name))
    assert pinned == ["ome", "recordings-worker"]
    web = service_environment(stack, "web")
    for name in ("RECORDINGS_STORAGE", "RECORDINGS_S3_BUCKET", "RECORDINGS_S3_REGION", "RECORDINGS_S3_ACCESS_KEY_ID"):
        assert web[name] == BUCKET_LAYOUT[name]


_ROUTES_PROBE = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({"routes": settings.CELERY_TASK_ROUTES, "storage": settings.STORAGES["recordings"]["BACKEND"],
                  "rtmp": settings.OME_RTMP_URL, "srt": settings.OME_SRT_URL}))
"""


def _settings_in(environment: dict[str, str]) -> dict:
    env = base_process_env(DJANGO_SETTINGS_MODULE="portal.settings", **environment)
    result = subprocess.run(
        ["sh", str(DOCKER_DIR / "entrypoint.sh"), "python", "-c", _ROUTES_PROBE],
        env=env, capture_output=True, text=True, timeout=60, cwd=DOCKER_DIR.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_with_a_bucket_the_tasks_that_need_the_volume_go_to_the_recordings_workers_queue():
    found = _settings_in(service_environment(load_stack(BUCKET_LAYOUT), "worker"))
    assert found["storage"] == "recordings.bucket.RecordingsBucket"
    for task in (
        "recordings.tasks.upload_recording_task",
        "recordings.tasks.finish_recording_task",
        "recordings.tasks.delete_local_files_task",
        "recordings.reconcile.settle_recording_task",
    ):
        assert found["routes"][task] == {"queue": "recordings"}, task
    assert (found["rtmp"], found["srt"]) == (
        "rtmp://ingest.stream.example.test:1935",
        "srt://ingest.stream.example.test:9999",
    ), "encoders are sent to OME's node"

    local = _settings_in(service_environment(load_stack(), "worker"))
    assert local["routes"] == {} and local["storage"] == "recordings.storage.RecordingsFolder"
    assert local["rtmp"] == f"rtmp://{OPERATOR_ENV['DOMAIN']}:1935"
