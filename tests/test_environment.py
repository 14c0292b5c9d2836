"""The environment scripts/setup-env builds (README: Environment): requirements.lock pins
every package with its sha256 hashes and both install paths use pip --require-hashes; the
Debian 13 root takes the security suite's updates; inside the root /sys is read-only and
only the devices programs open are visible. The scripts are read everywhere; the running
environment is checked where it is the one the test describes (otherwise skipped)."""

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pipeline.config import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"
SCRIPTS = REPO_ROOT / "scripts"
ROOT_VENV = Path("/opt/venv")
IN_ROOT = os.environ.get("VIRTUAL_ENV") == str(ROOT_VENV) and (ROOT_VENV / ".ready").exists()
in_root = pytest.mark.skipif(not IN_ROOT, reason="checks the inside of the Debian 13 root")

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)$")
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_problems(text: str) -> tuple[dict[str, str], list[str]]:
    """The pins of a requirements file ({name: version}) and one sentence per entry that
    is not `name==version` followed only by sha256 hashes."""
    pins, problems = {}, []
    for entry in text.replace("\\\n", " ").splitlines():
        entry = entry.split(" #", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        requirement, *options = entry.split()
        pin = PIN.match(requirement)
        if not pin:
            problems.append(f"{entry[:60]!r} is not pinned with ==")
            continue
        name = _canonical(pin.group(1))
        if name in pins:
            problems.append(f"{name} is pinned twice")
        pins[name] = pin.group(2)
        if not options:
            problems.append(f"{requirement} has no --hash")
        problems += [f"{requirement}: {option!r} is not a sha256 hash"
                     for option in options if not HASH.match(option)]
    return pins, problems


def _script(name: str) -> str:
    return (SCRIPTS / name).read_text(encoding="utf-8")


def _bash(script: str, *args: str) -> str:
    """Runs a bash snippet with scripts/_common.sh sourced (it only defines things)."""
    return subprocess.run(
        ["bash", "-c", f'. "{SCRIPTS}/_common.sh"; {script}', "_", *args],
        check=True, capture_output=True, text=True).stdout


def test_every_locked_package_is_pinned_with_its_hashes():
    pins, problems = lock_problems(LOCK.read_text(encoding="utf-8"))
    assert problems == []
    assert pins["tfx"] == "1.21.0" and len(pins) > 200
    # The project is imported from the checkout, never installed from the lock.
    assert "tfx-taxi-pipeline" not in pins


@pytest.mark.parametrize("text, problem", [
    ("absl-py==1.4.0\n", "has no --hash"),
    ("absl-py==1.4.0 \\\n    --hash=md5:0123\n", "is not a sha256 hash"),
    ("absl-py>=1.4.0 \\\n    --hash=sha256:" + "a" * 64 + "\n", "is not pinned"),
    ("-e .\n", "is not pinned"),
    ("tfx==1.21.0 --hash=sha256:" + "b" * 64 + "\nTFX==1.21.0 --hash=sha256:" + "b" * 64,
     "pinned twice"),
])
def test_the_lock_check_catches_an_unhashed_or_unpinned_line(text, problem):
    assert any(problem in sentence for sentence in lock_problems(text)[1])


def test_both_install_paths_require_hashes_and_install_only_the_lock():
    setup_env = _script("setup-env")
    args = re.search(r'^PIP_INSTALL_ARGS="([^"]*)"$', setup_env, re.M)
    assert args and args.group(1).split() == ["--require-hashes", "-r", "$LOCK_FILE"]
    # The venv path and the Debian 13 root path; the only other install is the lock tool
    # in its throwaway venv.
    assert len(re.findall(r'pip"? install', setup_env)) == 3
    assert sorted(re.findall(r'pip"? install --quiet ([^\s"]+)', setup_env)) == [
        "$LOCK_TOOL", "$PIP_INSTALL_ARGS", "$PIP_INSTALL_ARGS"]
    assert "--generate-hashes" in setup_env
    # GitHub Actions installs through `make setup` only.
    github = [path for path in (REPO_ROOT / ".github").rglob("*.y*ml")
              if re.search(r"pip3? install", path.read_text(encoding="utf-8"))]
    assert github == []


def test_make_lock_rewrites_the_lock():
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^lock:\n\tscripts/setup-env --relock$", makefile, re.M)


def test_the_root_adds_the_security_suite_of_debootstraps_mirror(tmp_path):
    sources = tmp_path / "sources.list"
    sources.write_text("deb http://mirror.invalid/debian trixie main\n", encoding="utf-8")
    assert _bash('security_sources "$1"', str(sources)) == (
        "deb http://mirror.invalid/debian-security trixie-security main\n")
    sources.write_text("deb http://mirror.invalid/debian bookworm main\n", encoding="utf-8")
    assert _bash('security_sources "$1"', str(sources)) == ""
    setup_env = _script("setup-env")
    upgrade = setup_env.index("apt-get full-upgrade")
    added = re.search(r'^security_sources "\$build/etc/apt/sources.list" '
                      r'>"\$build/etc/apt/sources.list.d/security.list"$', setup_env, re.M)
    assert added and added.start() < upgrade < setup_env.index(
        "apt-get install -y -qq --no-install-recommends $ROOT_APT_PACKAGES")
    # A root built without the security suite is never reused.
    assert "+security" in _script("_common.sh").split("env_key()")[1].split("}")[0]


def test_the_root_mounts_sys_read_only_and_no_whole_dev():
    common = _script("_common.sh")
    mounts = common.split("run_in_root()")[1]
    assert 'mount -o remount,bind,ro,nosuid,nodev,noexec "$root/sys"' in mounts
    assert "--rbind" not in mounts
    assert not re.search(r'mount --bind /dev "', mounts)


@in_root
def test_inside_the_root_sys_is_read_only():
    with pytest.raises(OSError) as raised:
        Path("/sys/kernel/env18-probe").write_text("x")
    assert raised.value.errno == 30  # EROFS
    sys_mount = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()
                 if line.split()[4] == "/sys"]
    assert sys_mount and "ro" in sys_mount[-1][5].split(",")
    # The host's cgroup and other mounts below /sys are not bound.
    assert not [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[4].startswith("/sys/")]


@in_root
def test_inside_the_root_dev_holds_no_disk():
    entries = set(os.listdir("/dev"))
    assert entries <= {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts",
                       "shm", "fd", "stdin", "stdout", "stderr"}
    with open("/dev/null", "w") as null:
        null.write("x")
    with open("/dev/urandom", "rb") as urandom:
        assert len(urandom.read(8)) == 8


@in_root
def test_inside_the_root_the_security_updates_are_applied():
    sources = Path("/etc/apt/sources.list.d/security.list").read_text(encoding="utf-8")
    assert re.search(r"^deb \S+-security trixie-security main$", sources, re.M)
    assert list(Path("/var/lib/apt/lists").glob("*trixie-security*Packages*"))
    # Against the package lists setup-env fetched: nothing left to upgrade.
    simulated = subprocess.run(["apt-get", "-s", "full-upgrade"], check=True,
                               capture_output=True, text=True).stdout
    assert re.search(r"^0 upgraded, 0 newly installed", simulated, re.M), simulated


def test_the_running_environment_is_exactly_the_lock():
    if Path(sys.prefix) not in (ROOT_VENV, REPO_ROOT / ".venv"):
        pytest.skip("not the project's environment")
    locked, _ = lock_problems(LOCK.read_text(encoding="utf-8"))
    # The venv's site-packages only: once setuptools is imported (some tests do), its
    # vendored packages' metadata is on sys.path too.
    site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    installed = {_canonical(dist.metadata["Name"]): dist.version
                 for dist in importlib.metadata.distributions(path=site)}
    if "pip" not in locked:  # the venv's own pip
        installed.pop("pip", None)
    assert installed == locked
