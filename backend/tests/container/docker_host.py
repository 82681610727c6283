"""A Docker daemon of the test's own, and a local stand-in for the slim Python base image.

No container registry is reachable from CI's machines, but Debian's packages are: docker.io
gives a daemon (run here with its own data root, the vfs storage driver and host networking,
since these machines have no bridge or iptables), and debootstrap builds a minimal Debian with
Python that stands in for the official slim image (`BASE_IMAGE`), trimmed the way that image is
(no apt lists, documentation, translations, standard-library bytecode or test packages), so its
size and the app's layers on it say something about the real thing. The stand-in is cached as a
tarball named after its recipe, so re-runs skip the minute debootstrap takes and a changed
recipe builds afresh. The machine's CA bundle goes into the
stand-in only (the package index is reached through a proxy with its own authority here);
the project's Dockerfile never sees it. Every wait has a deadline; the daemon is stopped by
its pid and its data root removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STANDIN_TAG = "local/python-slim-standin:bookworm"
STANDIN_CACHE = Path(
    os.environ.get("TODO_API_STANDIN_CACHE", "~/.cache/todo-api-standin")
).expanduser()
# The official image's runtime packages (ca-certificates, netbase, tzdata) and Debian's Python.
STANDIN_PACKAGES = "python3,python3-venv,ca-certificates,netbase,tzdata"
# What the official slim image leaves out (globs under the root): documentation, manuals,
# translations, apt's package lists and caches (49 MB), and of Python the bytecode and the
# test packages (it removes every *.pyc, test, tests and idle_test under its prefix).
STANDIN_TRIM = (
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
    "var/cache/apt/*.bin",
    "var/cache/apt/archives/*.deb",
    "var/lib/apt/lists/*",
    "usr/lib/python3*/**/__pycache__",
    "usr/lib/python3*/test",
    "usr/lib/python3*/**/tests",
    "usr/lib/python3*/**/idle_test",
)
STANDIN_RECIPE = hashlib.sha256(repr((STANDIN_PACKAGES, STANDIN_TRIM)).encode()).hexdigest()[:12]
DAEMON_START_SECONDS = 60
DAEMON_STOP_SECONDS = 30


class ContainerTestError(RuntimeError):
    """A step of the image test could not be carried out (said in plain words)."""


@dataclass(frozen=True)
class Docker:
    """The docker client pointed at our own daemon."""

    socket: Path

    def run(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=os.environ | {"DOCKER_HOST": f"unix://{self.socket}"},
            check=False,
        )
        if check and result.returncode != 0:
            raise ContainerTestError(
                f"docker {' '.join(args[:3])} ... failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def export_names(self, image: str) -> list[str]:
        """Every path in the image's filesystem (a container created, exported, listed)."""
        container = self.run("create", image).stdout.strip()
        try:
            with tempfile.TemporaryDirectory(prefix="todo-api-export-") as work:
                exported = Path(work) / "image.tar"
                self.run("export", "--output", str(exported), container, timeout=300)
                with tarfile.open(exported) as archive:
                    return archive.getnames()
        finally:
            self.run("rm", container)


def ensure_tools() -> None:
    """docker.io and debootstrap from Debian's packages, installed when missing (as root)."""
    missing = [
        package
        for package, binary in (("docker.io", "dockerd"), ("debootstrap", "debootstrap"))
        if shutil.which(binary) is None and not Path("/usr/sbin", binary).exists()
    ]
    if shutil.which("docker") is None and "docker.io" not in missing:
        missing.append("docker.io")
    if not missing:
        return
    if os.geteuid() != 0:
        raise ContainerTestError(f"{' and '.join(missing)} missing, and only root installs them")
    environment = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing],
        check=True,
        timeout=600,
        env=environment,
        stdout=subprocess.DEVNULL,
    )


@contextmanager
def docker_daemon() -> Iterator[Docker]:
    """A dockerd of our own (own data and exec roots, vfs, no bridge), stopped by its pid."""
    if os.geteuid() != 0:
        raise ContainerTestError("the image test runs its own Docker daemon: run it as root")
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    root = Path(tempfile.mkdtemp(prefix="todo-api-docker-"))  # short: sockets have a limit
    docker = Docker(root / "docker.sock")
    with (root / "dockerd.log").open("wb") as log:
        daemon = subprocess.Popen(
            [dockerd, "--iptables=false", "--ip-forward=false", "--bridge=none",
             "--storage-driver=vfs", "--data-root", str(root / "data"),
             "--exec-root", str(root / "exec"), "--pidfile", str(root / "dockerd.pid"),
             "-H", f"unix://{docker.socket}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + DAEMON_START_SECONDS
        while docker.run("version", timeout=10, check=False).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                tail = (root / "dockerd.log").read_text(errors="replace")[-3000:]
                raise ContainerTestError(f"dockerd did not come up:\n{tail}")
            time.sleep(0.5)
        yield docker
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=DAEMON_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=DAEMON_STOP_SECONDS)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _unmount_under(root: Path) -> None:
    """What dockerd leaves mounted under its roots (its network namespace, the data root)."""
    mounts = Path("/proc/mounts").read_text().splitlines()
    points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{root}/")]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, timeout=30)


def debian_mirror() -> str:
    """The Debian mirror apt is configured with (so debootstrap goes where apt goes)."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in sources:
        text = path.read_text(errors="replace") if path.is_file() else ""
        found = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.MULTILINE) or re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s+bookworm\b", text, re.MULTILINE
        )
        if found:
            return found.group(1)
    return "http://deb.debian.org/debian"


def machine_ca_bundle() -> Path:
    """The CA bundle pip uses on this machine (PIP_CERT, else the system bundle)."""
    return Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")


def standin_tarball() -> tuple[Path, bool]:
    """The stand-in's root filesystem as a tarball, and whether it came from the cache."""
    tarball = STANDIN_CACHE / f"python-slim-standin-bookworm-{STANDIN_RECIPE}.tar"
    if tarball.exists():
        return tarball, True
    STANDIN_CACHE.mkdir(parents=True, exist_ok=True)
    for stale in STANDIN_CACHE.glob("python-slim-standin-bookworm*.tar"):  # older recipes
        stale.unlink()
    with tempfile.TemporaryDirectory(prefix="todo-api-standin-") as work:
        rootfs = Path(work) / "rootfs"
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={STANDIN_PACKAGES}", "bookworm",
             str(rootfs), debian_mirror()],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ContainerTestError(f"debootstrap failed:\n{result.stdout[-3000:]}")
        # Like the official image: `python` is on the PATH and pip may install.
        (rootfs / "usr/bin/python").symlink_to("python3")
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        shutil.copyfile(machine_ca_bundle(), rootfs / "etc/ssl/certs/ca-certificates.crt")
        for pattern in STANDIN_TRIM:
            for entry in list(rootfs.glob(pattern)):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                elif entry.exists() or entry.is_symlink():
                    entry.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True, timeout=300
        )
        partial.rename(tarball)
    return tarball, False
