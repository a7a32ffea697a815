"""Reading docker/stack.yml the way `docker stack deploy` does, for the deployment tests.

No Docker engine runs here, so the tests load the stack file themselves: YAML first, then
Compose's variable interpolation on every value (`$$`, `${VAR}`, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?message}`, `${VAR?message}`), with an explicit environment.
Also: rendering OME's Server.xml with docker/ome/entrypoint.sh, and the portal's settings as
a service of the stack would see them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
STACK_FILE = DOCKER_DIR / "stack.yml"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
OME_TEMPLATE = DOCKER_DIR / "ome" / "Server.xml.template"
OME_ENTRYPOINT = DOCKER_DIR / "ome" / "entrypoint.sh"
PORTAL_ENTRYPOINT = DOCKER_DIR / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent

# What an operator puts in docker/.env: real-looking secrets, with characters that XML, URLs and
# shells treat specially, so that escaping mistakes show up.
OPERATOR_ENV = {
    "DOMAIN": "stream.example.test",
    "LE_ACM_EMAIL": "ops@example.test",
    "API_ACCESS_TOKEN": "4f6c1d0e9a8b7c6d5e4f3a2b1c0d9e8f-api",
    "SECRET_KEY": "Zx8-q2LrW7tV0bN3mK5jH1gF9dS4aP6oI2uY7tR3eW8qA5sD1fG0hJ4kL9zX2cV",
    "FIELD_ENCRYPTION_KEY": "x3cPqGz3mJrQ4kC0r0W3e0Jx0b8m5l9d1s2a3f4g5h0=",
    "OME_WEBHOOK_SECRET": 'hook&secret<with>"xml"\'chars',
    "POSTGRES_PASSWORD": "p@ss/w:rd%20#?",
}

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|(?P<named>[_A-Za-z][_A-Za-z0-9]*)|\{(?P<braced>[^}]*)\}|(?P<invalid>))")
_BRACED = re.compile(r"^(?P<name>[_A-Za-z][_A-Za-z0-9]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?$", re.DOTALL)


class InterpolationError(ValueError):
    """A required variable is missing, or a `$` is not a valid reference (Compose refuses both)."""


def interpolate(value: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        if match.group("braced") is None:
            raise InterpolationError(f"invalid '$' in {value!r} (write $$ for a literal dollar)")
        parts = _BRACED.match(match.group("braced"))
        if not parts:
            raise InterpolationError(f"invalid variable reference ${{{match.group('braced')}}} in {value!r}")
        name, op, arg = parts.group("name"), parts.group("op"), parts.group("arg") or ""
        current = env.get(name)
        if op is None:
            return current or ""
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op == ":?":
            if not current:
                raise InterpolationError(f"{name}: {arg}")
            return current
        if op == "?":
            if current is None:
                raise InterpolationError(f"{name}: {arg}")
            return current
        if op == ":+":
            return arg if current else ""
        return arg if current is not None else ""

    return _VARIABLE.sub(substitute, value)


def _interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(value, env) for value in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def raw_stack() -> dict[str, Any]:
    return yaml.safe_load(STACK_FILE.read_text())


def load_stack(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The stack as `docker stack deploy` sees it with `env` as the operator's environment."""
    return _interpolate_tree(raw_stack(), OPERATOR_ENV if env is None else env)


def _strings(node: Any):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def variables_used() -> dict[str, set[tuple[str | None, str | None]]]:
    """Every variable the stack file reads (in values, as Compose does) -> its (operator, argument) uses."""
    found: dict[str, set[tuple[str | None, str | None]]] = {}
    for text in _strings(raw_stack()):
        for match in _VARIABLE.finditer(text):
            if match.group("named"):
                found.setdefault(match.group("named"), set()).add((None, None))
            elif match.group("braced"):
                parts = _BRACED.match(match.group("braced"))
                assert parts, f"unparseable reference ${{{match.group('braced')}}}"
                found.setdefault(parts.group("name"), set()).add((parts.group("op"), parts.group("arg")))
    return found


def service_environment(stack: dict[str, Any], service: str) -> dict[str, str]:
    environment = stack["services"][service].get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def base_process_env(**extra: str) -> dict[str, str]:
    """A clean environment for a subprocess: nothing from the test run leaks into it."""
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
    }
    env.update(extra)
    return env


def awk_implementations() -> list[str]:
    """The awks on this machine; OME's image (Ubuntu) has mawk, so mawk matters most."""
    return [path for name in ("mawk", "gawk", "busybox") if (path := shutil.which(name))]


def render_ome(
    environment: dict[str, str], awk: str | None = None, tmp_path: Path | None = None
) -> subprocess.CompletedProcess:
    """Run `docker/ome/entrypoint.sh render` with the service environment `environment`."""
    env = base_process_env(OME_TEMPLATE=str(OME_TEMPLATE), **environment)
    if awk is not None:
        assert tmp_path is not None
        bin_dir = tmp_path / f"awk-{Path(awk).name}"
        bin_dir.mkdir(exist_ok=True)
        link = bin_dir / "awk"
        if not link.exists():
            if Path(awk).name == "busybox":
                link.write_text(f'#!/bin/sh\nexec {awk} awk "$@"\n')
                link.chmod(0o755)
            else:
                link.symlink_to(awk)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(["sh", str(OME_ENTRYPOINT), "render"], env=env, capture_output=True, text=True, timeout=30)


_SETTINGS_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.urls import NoReverseMatch, reverse
try:
    admission_path = reverse("ome_admission")
except NoReverseMatch:
    admission_path = None
try:
    transcode_path = reverse("ome_transcode")
except NoReverseMatch:
    transcode_path = None
db = settings.DATABASES["default"]
print(json.dumps({
    "admission_path": admission_path,
    "transcode_path": transcode_path,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "DEBUG": settings.DEBUG,
    "database": {key: db.get(key) for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")},
    **{name: str(getattr(settings, name)) for name in (
        "OME_API_URL", "OME_API_TOKEN", "OME_WEBHOOK_SECRET", "OME_VHOST", "OME_APP",
        "OME_RTMP_VARIANT_SUFFIX", "OME_RECORDINGS_DIR", "RECORDINGS_DIR", "OME_WEBRTC_URL",
        "OME_LLHLS_URL", "OME_RTMP_URL", "OME_SRT_URL", "CELERY_BROKER_URL", "DEFAULT_FROM_EMAIL",
        "TRUSTED_PROXY_COUNT", "OME_THUMBNAIL_URL", "OME_LLHLS_INTERNAL_URL",
    )},
}))
"""


def portal_settings(environment: dict[str, str]) -> dict[str, Any]:
    """The portal's settings inside a stack service with `environment` (through its entrypoint)."""
    env = base_process_env(DJANGO_SETTINGS_MODULE="portal.settings", **environment)
    result = subprocess.run(
        ["sh", str(PORTAL_ENTRYPOINT), "python", "-c", _SETTINGS_PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, f"the portal's settings did not load in the stack's environment:\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def published_ports(service: dict[str, Any]) -> list[dict[str, Any]]:
    ports = []
    for port in service.get("ports") or []:
        assert isinstance(port, dict), f"use the long port syntax (mode: host) instead of {port!r}"
        ports.append({**port, "target": int(port["target"]), "published": int(port["published"])})
    return ports


def port_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))
