"""One look into Mage's user table: before the UI is exposed, scripts/mage/start_mage.py asks whether a
user of the project's database still logs in with Mage's well-known default password, checked
the way Mage checks a login.
"""

from __future__ import annotations

import os


def users_with_password(project: str, password: str) -> list[str] | None:
    """The users (email, or username) of the project's Mage database who log in with `password`,
    checked as Mage's POST /api/sessions checks it; None when the database has no user yet (Mage
    then creates the owner from DEFAULT_OWNER_EMAIL / _USERNAME / _PASSWORD when it starts)."""
    from mage_ai.settings.repo import set_repo_path

    set_repo_path(os.path.abspath(project))  # before the db module picks its URL (as `mage start`)
    from mage_ai.authentication.passwords import verify_password
    from mage_ai.orchestration.db import engine
    from mage_ai.orchestration.db.models.oauth import User
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            users = conn.execute(select(User.email, User.username, User.password_hash)).fetchall()
    except SQLAlchemyError:  # a new database: Mage creates its tables when it starts
        return None
    if not users:
        return None
    return [email or username for email, username, hashed in users if hashed and verify_password(password, hashed)]
