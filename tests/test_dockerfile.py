"""The Dockerfile installs exactly what scripts/setup.sh installs for running
the service (its Debian runtime packages and the Python project without the
test extra), runs as a non-root user and checks its health on /status.
(hadolint lints it in scripts/test.sh.)"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"

# Packages setup.sh installs that the image leaves out on purpose, by group:
# the PostgreSQL server (a container always gets a DATABASE_URL) and test tools.
NOT_IN_IMAGE_GROUPS = ("SERVER_PACKAGES", "TEST_PACKAGES")
TEST_ONLY_EXTRAS = {"test"}


def setup_array(name: str) -> list[str]:
    """A bash array of scripts/setup.sh, as bash itself reads it."""
    out = subprocess.run(["bash", "-c", f'source scripts/setup.sh && printf "%s\\n" "${{{name}[@]}}"'],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.split()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def shell_commands(run_args: str) -> list[list[str]]:
    """The simple commands of a RUN line (split on && and ;)."""
    return [shlex.split(part) for part in re.split(r"&&|;", run_args) if part.strip()]


def apt_installs(commands: list[list[str]]) -> list[str]:
    packages = []
    for words in commands:
        if "apt-get" in words and "install" in words:
            after = words[words.index("install") + 1:]
            packages += [w for w in after if not w.startswith("-")]
    return packages


def pip_installs(commands: list[list[str]]) -> list[str]:
    """Requirement arguments of `pip install` / `python -m pip install` commands."""
    targets = []
    for words in commands:
        if "pip" in words and "install" in words:
            after = words[words.index("install") + 1:]
            targets += [w for w in after if not w.startswith("-")]
    return targets


def split_extras(target: str) -> tuple[str, set[str]]:
    m = re.fullmatch(r"([^\[]+)(?:\[([^\]]*)\])?", target)
    assert m, target
    return m.group(1), {e.strip() for e in (m.group(2) or "").split(",") if e.strip()}


def setup_sh_commands() -> list[list[str]]:
    text = (ROOT / "scripts" / "setup.sh").read_text()
    lines = [ln for ln in text.splitlines() if "pip install" in ln and not ln.lstrip().startswith("#")]
    return [shlex.split(ln) for ln in lines]


def test_debian_packages_are_setup_sh_minus_server_and_test_packages() -> None:
    runs = [shell_commands(args) for word, args in dockerfile_instructions() if word == "RUN"]
    image = sorted(p for cmds in runs for p in apt_installs(cmds))
    left_out = {p for group in NOT_IN_IMAGE_GROUPS for p in setup_array(group)}
    everything = setup_array("SYSTEM_PACKAGES")
    assert left_out <= set(everything)
    assert image == sorted(set(everything) - left_out)
    assert image == sorted(setup_array("RUNTIME_PACKAGES"))
    assert "sqitch" in image and any(p.startswith("postgresql-client") for p in image), "migrations need both"


def test_python_packages_are_the_project_without_test_extras() -> None:
    runs = [shell_commands(args) for word, args in dockerfile_instructions() if word == "RUN"]
    image = [split_extras(t) for cmds in runs for t in pip_installs(cmds)]
    setup = [split_extras(t) for t in pip_installs(setup_sh_commands())]
    assert setup and image, "both install the project with pip"
    assert [(target, extras - TEST_ONLY_EXTRAS) for target, extras in setup] == image


def test_image_runs_as_non_root_with_a_health_check_and_the_migrations() -> None:
    instructions = dockerfile_instructions()
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the service must not run as root"
    assert instructions[0][0] == "FROM" and "slim" in instructions[0][1]
    health = [args for word, args in instructions if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/status" in health[0]
    copied = " ".join(args for word, args in instructions if word == "COPY")
    for needed in ("sqitch.plan", "sqitch.conf", "sql", "service", "pyproject.toml"):
        assert re.search(rf"(^|\s){re.escape(needed)}(\s|$)", copied), f"the image needs {needed}"
    assert [args for word, args in instructions if word == "ENTRYPOINT"] == ['["pg-workflow"]']


def test_dockerignore_lets_every_copied_path_through() -> None:
    allowed = [ln[1:].rstrip("/") for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.startswith("!")]
    for word, args in dockerfile_instructions():
        if word == "COPY":
            *sources, _dest = args.split()
            for src in sources:
                assert any(a == src or a.startswith(src + "/") for a in allowed), f"{src} is excluded by .dockerignore"
