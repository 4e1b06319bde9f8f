"""Start the Mage server only where it is safe: on loopback, or with the login on.

    python scripts/start_mage.py PROJECT --host 127.0.0.1 --port 6789
    python scripts/start_mage.py PROJECT --host 0.0.0.0 --exposed-on "$PUBLISH_ADDRESS" \
        --setting PUBLISH_ADDRESS          # in a container: the host decides who reaches it

Mage's editor has a terminal: whoever reaches the UI runs code as the user who started it.
`mage start` binds every interface unless told otherwise (also for `--host localhost`), so this
script always names the address, and refuses to expose the UI beyond loopback while
REQUIRE_USER_AUTHENTICATION is off. Then it runs `mage start` in this same process, after fixing
two races of Mage's process queue (scripts/mage_patches.py). The check needs the standard
library only: the Docker image runs this script too.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Mapping

DEFAULT_HOST = '127.0.0.1'


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
            'REQUIRE_USER_AUTHENTICATION=1 (then change the admin password at once), or keep '
            f'{setting}={DEFAULT_HOST}'
        )
    if env.get('POSTGRES_PASSWORD') == 'root' and setting == 'PUBLISH_ADDRESS':
        return (
            f'{setting}={address} publishes PostgreSQL too, and POSTGRES_PASSWORD is still the '
            'default `root`: set another password in .env first'
        )
    return None


def bind_address(host: str) -> str:
    """What to hand `mage start --host`: its 'localhost' means every interface, so say 127.0.0.1."""
    return DEFAULT_HOST if host.strip() in ('', 'localhost') else host.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('project')
    parser.add_argument('--host', default=DEFAULT_HOST, help='the address Mage listens on')
    parser.add_argument('--port', default='6789')
    parser.add_argument('--exposed-on', help='the address the UI is reachable on, when it differs '
                                             '(a container published on the host); default: --host')
    parser.add_argument('--setting', default='MAGE_HOST', help='the setting that chose the address')
    args = parser.parse_args(argv)
    problem = exposure_problem(args.setting, args.exposed_on or args.host, os.environ)
    if problem:
        print(f'[start_mage] refused: {problem}', file=sys.stderr, flush=True)
        return 2
    from mage_patches import apply  # beside this script
    from mage_ai.cli.main import app

    apply()
    sys.argv = ['mage', 'start', args.project, '--host', bind_address(args.host), '--port', args.port]
    app()
    return 0


if __name__ == '__main__':
    sys.exit(main())
