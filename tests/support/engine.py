"""A real container engine for the compose test: Debian's docker.io (dockerd 20.10) and
docker-compose 1.29, the stand-in base images (tests/compose/standins/README.md), and the guard
that keeps container traffic on this machine.

Everything here needs root (installing packages, starting dockerd, iptables); the compose test
is skipped, saying so, where that is not the case.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

STANDINS = Path(__file__).resolve().parents[1] / 'compose' / 'standins'
BASE = 'nyc-taxi-standin/bookworm'
PACKAGES = {
    'dockerd': 'docker.io',
    'docker-compose': 'docker-compose',
    'debootstrap': 'debootstrap',
    'iptables': 'iptables',
}


class EngineError(RuntimeError):
    pass


def sh(
    *cmd: str, timeout: float = 3600, input: str | bytes | None = None, check: bool = True, **kwargs
) -> subprocess.CompletedProcess:
    done = subprocess.run(
        cmd, capture_output=True, timeout=timeout, input=input, text=not isinstance(input, bytes), **kwargs
    )
    if check and done.returncode != 0:
        out = done.stdout + done.stderr
        raise EngineError(
            f'{" ".join(cmd)[:200]} failed ({done.returncode}):\n{out[-4000:] if isinstance(out, str) else out[-4000:].decode(errors="replace")}'
        )
    return done


def install_engine() -> None:
    missing = [pkg for cmd, pkg in PACKAGES.items() if not shutil.which(cmd)]
    if missing:
        sh('apt-get', 'update', '-qq')
        sh(
            'apt-get',
            'install',
            '-y',
            '-qq',
            '--no-install-recommends',
            *missing,
            env={**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'},
        )


def engine_up() -> bool:
    return subprocess.run(['docker', 'info'], capture_output=True).returncode == 0


@contextlib.contextmanager
def running_engine(log: Path) -> Iterator[None]:
    """dockerd, started here unless it already runs (then it is left running as found)."""
    install_engine()
    started = None
    if not engine_up():
        started = subprocess.Popen(
            ['dockerd'],
            stdout=open(log, 'ab'),  # noqa: SIM115 - the daemon writes to it after this function returns
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while not engine_up():
            if started.poll() is not None or time.monotonic() > deadline:
                raise EngineError(f'dockerd did not start: see {log}')
            time.sleep(0.5)
    try:
        yield
    finally:
        if started is not None:
            started.terminate()
            started.wait(timeout=60)


def image_exists(name: str) -> bool:
    return subprocess.run(['docker', 'image', 'inspect', name], capture_output=True).returncode == 0


def image_label(name: str, label: str) -> str | None:
    """A label of an image in the store; None when the image is missing."""
    done = subprocess.run(
        ['docker', 'image', 'inspect', '-f', f'{{{{index .Config.Labels "{label}"}}}}', name],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def pyenv_python(version: str) -> Path:
    """This machine's pyenv CPython `version` (3.10, 3.13...): the stand-in python images copy it."""
    root = os.environ.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv')
    found = sorted(
        glob.glob(f'{root}/versions/{version}.*'), key=lambda p: [int(x) for x in p.rsplit('/', 1)[1].split('.')]
    )
    if not found:
        raise EngineError(
            f'no Python {version} in {root}/versions: the python:{version}-slim stand-in copies it '
            f'(pyenv install {version})'
        )
    return Path(found[-1])


def extra_ca_certs() -> str:
    """The certificates this machine trusts beyond Debian's set (a proxy that re-signs TLS), for
    image builds that fetch from PyPI."""
    return ''.join(
        Path(p).read_text() for p in sorted(glob.glob('/usr/local/share/ca-certificates/**/*.crt', recursive=True))
    )


def build_standins(rebuild: bool = False) -> list[str]:
    """Build each stand-in that the image store lacks, or has from another Dockerfile (a label
    keeps the hash of the Dockerfile an image was built from); return the names built now."""
    built = []

    def build(name: str, dockerfile: Path, context: Path, *args: str) -> None:
        recipe = hashlib.sha256(dockerfile.read_bytes()).hexdigest()[:16]
        if image_label(name, 'standin.dockerfile') == recipe and not rebuild:
            return
        sh(
            'docker',
            'build',
            '--network',
            'host',
            '-t',
            name,
            '--label',
            f'standin.dockerfile={recipe}',
            '-f',
            '-',
            *args,
            str(context),
            input=dockerfile.read_text(),
        )
        built.append(name)

    if not image_exists(BASE) or rebuild:
        with tempfile.TemporaryDirectory(prefix='nyc-taxi-rootfs-', dir='/var/tmp') as rootfs:
            sh('debootstrap', '--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian')
            tar = subprocess.Popen(['tar', '-C', rootfs, '-c', '.'], stdout=subprocess.PIPE)
            sh('docker', 'import', '-', BASE, stdin=tar.stdout)
            tar.wait()
        built.append(BASE)
    for version in ('3.10', '3.13'):  # the Mage image's and the BigQuery emulator's
        python = pyenv_python(version)
        build(
            f'python:{version}-slim',
            STANDINS / 'python' / 'Dockerfile',
            python,
            '--build-arg',
            f'PYENV_PREFIX={python}',
        )
    build('python:3.11-slim', STANDINS / 'python-debian' / 'Dockerfile', STANDINS / 'python-debian')
    build('postgres:15', STANDINS / 'postgres' / 'Dockerfile', STANDINS / 'postgres')
    from scripts.stack.local_emulators import fake_gcs_binary

    with tempfile.TemporaryDirectory() as context:
        shutil.copy(fake_gcs_binary(), Path(context) / 'fake-gcs-server')
        build('fsouza/fake-gcs-server:1.52.2', STANDINS / 'fake-gcs' / 'Dockerfile', Path(context))
    build(
        'mageai/mageai:0.9.80',
        STANDINS / 'mageai' / 'Dockerfile',
        STANDINS / 'mageai',
        '--build-arg',
        f'EXTRA_CA_CERTS={extra_ca_certs()}',
    )
    return built


def external_interface() -> str:
    """The interface this machine's default route leaves by (a route lookup: no packet is sent)."""
    route = sh('ip', '-o', 'route', 'get', '1.1.1.1').stdout.split()
    return route[route.index('dev') + 1]


@contextlib.contextmanager
def egress_guard() -> Iterator[str]:
    """Containers talk to each other and to this machine only: a DROP rule at the top of Docker's
    DOCKER-USER chain for every packet forwarded out of the external interface, for as long as
    the test runs; yields the rule as `iptables -S` prints it."""
    interface = external_interface()
    rule = ['DOCKER-USER', '-o', interface, '-j', 'DROP']
    sh('iptables', '-I', *rule)
    try:
        yield f'-A {" ".join(rule)}'
    finally:
        sh('iptables', '-D', *rule, check=False)
