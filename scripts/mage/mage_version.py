"""The one mage-ai version this project's workarounds of Mage's bugs (scripts/mage/mage_patches/)
were checked against, and the gate every start goes through (scripts/mage/start_mage.py under
`make run`, `make up` and `docker compose up`): on another version Mage is not started, unless
ALLOW_MAGE_VERSION names exactly the version installed (then it starts without the patches)."""

from __future__ import annotations

from collections.abc import Mapping

CHECKED_MAGE_VERSION = '0.9.80'
ALLOW_SETTING = 'ALLOW_MAGE_VERSION'


def installed_mage_version() -> str:
    from importlib.metadata import version

    return version('mage-ai')


def mage_version_problem(env: Mapping[str, str], installed: str | None = None) -> str | None:
    """Why Mage may not start with the mage-ai installed, or None."""
    installed = installed or installed_mage_version()
    if installed == CHECKED_MAGE_VERSION or (env.get(ALLOW_SETTING) or '').strip() == installed:
        return None
    return (
        f'mage-ai {installed} is installed, but scripts/mage/mage_patches/ were checked against mage-ai '
        f'{CHECKED_MAGE_VERSION} only: on another version they are not applied, and what they keep right (runs that '
        f'start, the month a backfill run loads) could quietly change. Install mage-ai=={CHECKED_MAGE_VERSION} '
        f'(requirements.txt; the image mageai/mageai:{CHECKED_MAGE_VERSION}), or set {ALLOW_SETTING}={installed} '
        'to start it without them'
    )
