"""Start the Mage server only where it is safe: on loopback, or with the login on.

    python scripts/mage/start_mage.py PROJECT --host 127.0.0.1 --port 6789
    python scripts/mage/start_mage.py PROJECT --host 0.0.0.0 --exposed-on "$PUBLISH_ADDRESS" \
        --setting PUBLISH_ADDRESS --as-project-owner   # in a container: the host decides who
                                                       # reaches it; Mage runs as the checkout's owner

Mage's editor has a terminal: whoever reaches the UI runs code as the user who started it.
`mage start` binds every interface unless told otherwise (also for `--host localhost`), so this
script always names the address, and refuses to expose the UI beyond loopback unless
REQUIRE_USER_AUTHENTICATION is on AND no user can log in with Mage's well-known default password
`admin`: for a new database DEFAULT_OWNER_PASSWORD (the owner Mage creates) must be set, at least
MIN_PASSWORD_LENGTH characters; in an existing one, no user may still have `admin` (checked as
Mage checks a login). With neither set nor a user yet, it generates the owner's password, saves
it in the project's .env (mode 0600) and says where. Then it runs `mage start` in this same
process, after fixing three races of Mage's process queue (scripts/mage/mage_patches/).
"""

from __future__ import annotations

import argparse
import faulthandler
import ipaddress
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

import psutil

try:
    from mage_version import mage_version_problem  # beside this script (run as a script)
except ImportError:  # imported as scripts.mage.start_mage (make run, the tests)
    from scripts.mage.mage_version import mage_version_problem

DEFAULT_HOST = '127.0.0.1'
MAGE_DEFAULT_PASSWORD = 'admin'  # what Mage gives its first user when DEFAULT_OWNER_PASSWORD is unset
MIN_PASSWORD_LENGTH = 12


def is_loopback(address: str) -> bool:
    address = address.strip().strip('[]')
    if address == 'localhost':
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a host name or '': it may resolve to anything
    mapped = getattr(ip, 'ipv4_mapped', None)  # ::ffff:127.0.0.1 is 127.0.0.1 on an IPv6 socket
    return (mapped or ip).is_loopback


def login_required(env: Mapping[str, str]) -> bool:
    """Mage's own reading of REQUIRE_USER_AUTHENTICATION (unset means on)."""
    return env.get('REQUIRE_USER_AUTHENTICATION', 'True').strip().lower() in ('true', '1', 't')


def exposure_problem(setting: str, address: str, env: Mapping[str, str]) -> str | None:
    """Why exposing the UI on `address` (the value of `setting`) is refused, or None if it is safe."""
    if is_loopback(address):
        return None
    if not login_required(env):
        return (
            f'{setting}={address or "(empty)"} would open the Mage UI, its editor and its terminal to '
            f'every machine that can reach this one, and REQUIRE_USER_AUTHENTICATION='
            f'{env.get("REQUIRE_USER_AUTHENTICATION", "")} turns the login off. Set '
            "REQUIRE_USER_AUTHENTICATION=1 and DEFAULT_OWNER_PASSWORD (the login's password, at least "
            f'{MIN_PASSWORD_LENGTH} characters), or keep {setting}={DEFAULT_HOST}'
        )
    if env.get('POSTGRES_PASSWORD') == 'root' and setting == 'PUBLISH_ADDRESS':
        return (
            f'{setting}={address} publishes PostgreSQL too, and POSTGRES_PASSWORD is still the '
            'default `root`: set another password in .env first'
        )
    return None


def users_with_password(project: str, password: str) -> list[str] | None:
    """scripts/mage/mage_patches' look into Mage's user table (it imports Mage)."""
    import importlib

    return importlib.import_module(
        f'{__package__}.mage_patches' if __package__ else 'mage_patches'
    ).users_with_password(project, password)


def check_exposure(
    setting: str, address: str, project: str, env: MutableMapping[str, str]
) -> tuple[str | None, Path | None]:
    """(why exposing the UI on `address` is refused, or None; the .env into which a generated owner
    password was saved, or None). On loopback nothing is asked of the login."""
    problem = exposure_problem(setting, address, env)
    if problem or is_loopback(address):
        return problem, None
    defaulted = users_with_password(project, MAGE_DEFAULT_PASSWORD)
    new_database = defaulted is None
    saved = generate_owner_password(project, env) if new_database and not env.get('DEFAULT_OWNER_PASSWORD') else None
    return owner_password_problem(setting, address, defaulted, env), saved


def owner_password_problem(
    setting: str, address: str, defaulted: list[str] | None, env: Mapping[str, str]
) -> str | None:
    """Why the login would not protect the exposed UI, or None. `defaulted`: the users of Mage's
    database who log in with its default password (None: no user yet)."""
    if defaulted:
        return (
            f'{setting}={address} would expose the Mage UI, and the user(s) {", ".join(defaulted)} of its '
            f"database still log in with Mage's default password `{MAGE_DEFAULT_PASSWORD}`: change it first "
            f'with the UI on this machine only ({setting} unset; Settings > Users), then set '
            'DEFAULT_OWNER_PASSWORD in .env to the new one (the tools log in with it)'
        )
    if defaulted is None:  # a new database: Mage will create the owner with DEFAULT_OWNER_PASSWORD
        return weak_password_problem(setting, address, env.get('DEFAULT_OWNER_PASSWORD', ''))
    return None


def weak_password_problem(setting: str, address: str, password: str) -> str | None:
    """(An unset password never gets here: check_exposure generates one.)"""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (
            f'{setting}={address} would expose the Mage UI and DEFAULT_OWNER_PASSWORD has '
            f'{len(password)} characters: use at least {MIN_PASSWORD_LENGTH}'
        )
    return None


def generate_owner_password(project: str, env: MutableMapping[str, str]) -> Path:
    """For a first exposed start with no password: a new owner password, saved as
    DEFAULT_OWNER_PASSWORD in the project's .env (mode 0600; made from dev.env when missing, as
    `cp dev.env .env` would) and set in `env`. Returns the .env."""
    password = secrets.token_urlsafe(18)  # 24 characters
    env_file = Path(project) / '.env'
    template = env_file if env_file.exists() else Path(project) / 'dev.env'
    text = template.read_text() if template.exists() else ''
    setting = f'DEFAULT_OWNER_PASSWORD={password}'
    lines = [setting if line.startswith('DEFAULT_OWNER_PASSWORD=') else line for line in text.splitlines()]
    if setting not in lines:
        lines.append(setting)
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as out:
        out.write('\n'.join(lines) + '\n')
    os.chmod(env_file, 0o600)  # an existing .env too
    env['DEFAULT_OWNER_PASSWORD'] = password
    return env_file


def owner_email(env: Mapping[str, str]) -> str:
    return env.get('DEFAULT_OWNER_EMAIL') or 'admin@admin.com'  # Mage's own default


def bind_address(host: str) -> str:
    """What to hand `mage start --host`: its 'localhost' means every interface, so say 127.0.0.1."""
    return DEFAULT_HOST if host.strip() in ('', 'localhost') else host.strip()


def become_project_owner(project: str) -> int | None:
    """In a container that runs as root over a mounted checkout: go on as the checkout's owner,
    so that what Mage writes there (the editor's saves, .file_versions) is the user's, not root's.
    MAGE_DATA_DIR (a volume, root's when new) is handed over first. Returns the uid, or None
    when nothing changed (not root, or a checkout root owns)."""
    owner = os.stat(project)
    if os.geteuid() != 0 or owner.st_uid == 0:
        return None
    data = Path(os.environ.get('MAGE_DATA_DIR') or Path(project).parent / 'mage_data')
    (data / 'home').mkdir(parents=True, exist_ok=True)
    for folder, _, files in os.walk(data):
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            if os.lstat(path).st_uid != owner.st_uid:
                os.lchown(path, owner.st_uid, owner.st_gid)
    os.setgroups([])
    os.setgid(owner.st_gid)
    os.setuid(owner.st_uid)
    os.environ['HOME'] = str(data / 'home')
    return owner.st_uid


def editor_kernel_writes_pipelines_as_committed(project: str) -> Path:
    """The editor runs blocks in a Jupyter kernel, a process of its own that saves the block's
    pipeline afterwards: its IPython startup file (under IPYTHONDIR, which the kernel inherits)
    makes it write pipelines/*/metadata.yaml in the committed form, as the server does
    (scripts/mage/pipeline_files.py). Returns the startup file."""
    ipython = Path(os.environ.get('MAGE_DATA_DIR') or Path(project) / '.data') / 'ipython'
    startup = ipython / 'profile_default' / 'startup' / '00-pipeline-files.py'
    startup.parent.mkdir(parents=True, exist_ok=True)
    startup.write_text(
        '# Written by scripts/mage/start_mage.py: the editor kernel saves pipelines as committed\n'
        f'import sys\nsys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n'
        'from mage_patches import write_pipeline_files_as_committed\n'
        'write_pipeline_files_as_committed()\n'
    )
    os.environ['IPYTHONDIR'] = str(ipython)
    return startup


def prepare_course_profiles(project: str, env: MutableMapping[str, str]) -> subprocess.Popen | None:
    """What the course's profiles (dev, default) and Google's own clients need
    (utils/sinks/course_profiles.py, scripts/stack/local_google_auth.py): their database; with
    the local profile, the emulator hosts and a local key in the environment Mage and its kernels
    inherit, its token server (a process of its own, which also makes the view Mage's BigQuery
    exporter reads) returned. What cannot be reached is said, not fatal: the project's own
    pipelines say it again."""
    if project not in sys.path:
        sys.path.insert(0, project)  # utils/ and scripts/, as under `make run` (and the image's PYTHONPATH)
    from scripts.stack.local_google_auth import start_local_google
    from utils.sinks.course_profiles import course_database, course_dbname, emulator_hosts

    try:
        if course_database(env):
            print(
                f"[start_mage] created the course's database {course_dbname(env)} (profiles dev, default)", flush=True
            )
    except Exception as e:  # noqa: BLE001  # PostgreSQL down or a bad setting: said, Mage starts all the same
        print(
            f"[start_mage] the course's database (profiles dev, default) is not ready: {_first_line(e)}",
            file=sys.stderr,
        )
    hosts = emulator_hosts(env)
    if not hosts:
        return None
    env.update(hosts)
    data = Path(env.get('MAGE_DATA_DIR') or Path.home() / '.mage_data')
    try:
        key, server = start_local_google(
            data / 'keys' / 'local-emulators.json', env.get('GOOGLE_PROJECT_ID') or 'local-project', dict(env)
        )
    except OSError as e:  # a data folder it cannot write: Google's clients then ask for a key, said here
        print(f"[start_mage] no local key for Google's clients: {_first_line(e)}", file=sys.stderr, flush=True)
        return None
    env['GOOGLE_APPLICATION_CREDENTIALS'] = env['GOOGLE_SERVICE_ACC_KEY_FILEPATH'] = str(key)
    print(
        f"[start_mage] Google's clients reach the emulators ({', '.join(sorted(hosts))}) with a key made here, "
        f'{key}, whose tokens only a server of this machine hands out (pid {server.pid})',
        flush=True,
    )
    return server


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


_STACK_FILES: list = []  # the open files faulthandler writes into (kept open for it)


def stacks_folder(project: str) -> Path:
    """Where each Mage process writes its stacks on SIGUSR1: beside Mage's data."""
    return Path(os.environ.get('MAGE_DATA_DIR') or Path(project) / '.data') / 'stacks'


def dump_stacks_on_sigusr1(folder: Path) -> None:
    """`kill -USR1 <pid>` of the server or of any process forked from it (the scheduler, a run)
    writes where each of its threads is to <folder>/<pid>.txt, and the process goes on: how a run
    that hangs is looked into (docs/troubleshooting.md; tests/pipelines/test_sensors.py does it on
    a timeout). A file each: faulthandler writes a dump in pieces, so dumps of processes signalled
    together, or a run's log written beside them, would cut each other's lines in one file. The
    empty files of processes that ended go when a process registers."""
    folder.mkdir(parents=True, exist_ok=True)

    def register() -> None:
        for old in folder.glob('*.txt'):  # the empty files of processes that ended (a run's, each)
            try:
                if old.stem.isdigit() and old.stat().st_size == 0 and not psutil.pid_exists(int(old.stem)):
                    old.unlink()
            except OSError:  # another process forked at the same moment removed it first
                continue
        dump = open(folder / f'{os.getpid()}.txt', 'a')  # noqa: SIM115 - faulthandler writes into it for good
        faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True)
        _STACK_FILES.append(dump)

    register()
    os.register_at_fork(after_in_child=register)  # a forked process gets a file of its own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('project')
    parser.add_argument('--host', default=DEFAULT_HOST, help='the address Mage listens on')
    parser.add_argument('--port', default='6789')
    parser.add_argument(
        '--exposed-on',
        help='the address the UI is reachable on, when it differs (a container published on the host); default: --host',
    )
    parser.add_argument('--setting', default='MAGE_HOST', help='the setting that chose the address')
    parser.add_argument(
        '--as-project-owner',
        action='store_true',
        help='run as the owner of PROJECT when started as root (in the container)',
    )
    args = parser.parse_args(argv)
    if version_problem := mage_version_problem(os.environ):
        print(f'[start_mage] refused: {version_problem}', file=sys.stderr, flush=True)
        return 2
    if args.as_project_owner and (uid := become_project_owner(args.project)) is not None:
        print(f'[start_mage] running as uid {uid}, the owner of {args.project}', flush=True)
    problem, saved = check_exposure(args.setting, args.exposed_on or args.host, args.project, os.environ)
    if saved:  # never the password itself: this output is a log
        print(
            f"[start_mage] generated the owner's password and saved it in {saved.name} as "
            f'DEFAULT_OWNER_PASSWORD (mode 0600): log in as {owner_email(os.environ)} with it',
            flush=True,
        )
        # Mage read DEFAULT_OWNER_PASSWORD when the check imported it: start afresh, with it set
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *(argv or sys.argv[1:])])
    if problem:
        print(f'[start_mage] refused: {problem}', file=sys.stderr, flush=True)
        return 2
    project = os.path.abspath(args.project)
    # From the project's folder, as under `make run`: a relative path in the settings (the key file
    # of GOOGLE_SERVICE_ACC_KEY_FILEPATH) is the project's for dbt too, which reads it from here.
    os.chdir(project)
    # The pipelines' dashboards (Pipelines > <pipeline> > Dashboard) are the project's, in git:
    # dashboards/pipelines/<uuid>/dashboard/block_layout.yaml, not under the variables_dir
    os.environ.setdefault('MAGE_PRESENTERS_DIRECTORY', os.path.join(project, 'dashboards'))
    editor_kernel_writes_pipelines_as_committed(project)
    prepare_course_profiles(project, os.environ)
    from mage_ai.cli.main import app
    from mage_patches import apply, use_project  # beside this script
    from mage_patches.mage_sources import MageCodeChanged

    use_project(project)
    dump_stacks_on_sigusr1(stacks_folder(project))
    try:
        apply()
    except MageCodeChanged as e:
        print(f'[start_mage] refused: {e}', file=sys.stderr, flush=True)
        return 2
    sys.argv = ['mage', 'start', project, '--host', bind_address(args.host), '--port', args.port]
    app()
    return 0


if __name__ == '__main__':
    sys.exit(main())
