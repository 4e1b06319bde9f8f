"""A session with a running Mage server's REST API, as its web UI has one: every request carries
the UI's public api_key, and with the login on (REQUIRE_USER_AUTHENTICATION=1) the client logs in
as the owner (DEFAULT_OWNER_EMAIL / DEFAULT_OWNER_PASSWORD, Mage's defaults when unset) the first
time the server asks for it, as the UI's login page does. What is asked of the server (runs,
backfills, logs) is in scripts/mage/mage_api.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import requests

# Mage's web UI sends this public OAuth client id as api_key with every request.
UI_API_KEY = 'zkWlN0PkIKSN0C11CfUHUj84OT5XOJ6tDZ6bDRO2'
LOGIN_NEEDED = {401, 403}  # the codes of Mage's "no/invalid/expired token" errors
Session = TypeVar('Session', bound='MageSession')


class MageRunError(RuntimeError):
    pass


class MageLoginError(MageRunError):
    """The server refused the login's email and password."""


class MageSession:
    def __init__(
        self, base_url: str = 'http://127.0.0.1:6789', email: str = 'admin@admin.com', password: str = 'admin'
    ):
        self.base_url = base_url.rstrip('/')
        self.http = requests.Session()
        self.email, self.password = email, password
        self.logged_in = False

    @classmethod
    def from_env(cls: type[Session], base_url: str, env: Mapping[str, str]) -> Session:
        """A client that logs in, when asked to, as the owner the settings name (Mage's defaults)."""
        return cls(
            base_url, env.get('DEFAULT_OWNER_EMAIL') or 'admin@admin.com', env.get('DEFAULT_OWNER_PASSWORD') or 'admin'
        )

    def login(self) -> None:
        """POST /api/sessions as the UI's login page does; the token goes in every later request."""
        r = self.http.post(
            f'{self.base_url}/api/sessions',
            timeout=60,
            json={'api_key': UI_API_KEY, 'session': {'email': self.email, 'password': self.password}},
        )
        body = r.json()
        if body.get('error'):
            refused = MageLoginError if body['error'].get('type') == 'record_not_found' else MageRunError
            raise refused(
                f'the Mage server at {self.base_url} requires a login and refused {self.email}: '
                f'"{body["error"].get("message") or body["error"]}" Set DEFAULT_OWNER_EMAIL and '
                'DEFAULT_OWNER_PASSWORD (in .env or the environment) to that login.'
            )
        self.http.cookies.set('oauth_token', body['session']['token'])  # where the UI keeps it
        self.logged_in = True

    def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        """One API call; if the server asks for a login, logs in and calls again. Errors raise."""
        response, error = self._request(method, path, **kwargs)
        if (error or {}).get('code', response.status_code) in LOGIN_NEEDED and not self.logged_in:
            self.login()
            response, error = self._request(method, path, **kwargs)
        response.raise_for_status()
        if error:
            raise MageRunError(f'{method} /api/{path}: {error.get("message") or error}')
        return response.json()

    def _request(
        self, method: str, path: str, params: dict | None = None, json: dict | None = None
    ) -> tuple[requests.Response, dict | None]:
        """(the response, Mage's error object or None); Mage reads a POST's or PUT's api_key from its body."""
        response = self.http.request(
            method,
            f'{self.base_url}/api/{path}',
            timeout=30,
            params={'api_key': UI_API_KEY, **(params or {})},
            json=None if json is None else {'api_key': UI_API_KEY, **json},
        )
        is_json = response.headers.get('content-type', '').startswith('application/json')
        body = response.json() if is_json else {}
        return response, body.get('error') if isinstance(body, dict) else None

    def _get(self, path: str, **params: Any) -> dict:
        return self._call('GET', path, params=params)

    def _send(self, method: str, path: str, payload: dict) -> dict:
        return self._call(method, path, json=payload)

    def ready(self) -> bool:
        try:
            return self.http.get(f'{self.base_url}/api/status', timeout=2).status_code == 200
        except requests.RequestException:
            return False
