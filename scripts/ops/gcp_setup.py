"""`make gcp-setup`: create (if missing) the bucket and the BigQuery dataset the cloud pipelines
write to, both in GOOGLE_LOCATION, or refuse saying what to change (utils/steps/gcp_setup.py). Run it
again at any time: what exists and fits is left as it is.

Settings from .env, as `make run` reads them: IO_CONFIG_PROFILE=gcp, GOOGLE_PROJECT_ID,
GOOGLE_SERVICE_ACC_KEY_FILEPATH (or none: Application Default Credentials), GCS_BUCKET,
BIGQUERY_DATASET, GOOGLE_LOCATION. On the local profile it sets up the emulators the same way
(they have no IAM: no permission check), starting them if they are not running.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scripts.stack.local_settings import environment, start_emulators


def say(message: str) -> None:
    print(f'[gcp-setup] {message}', flush=True)


def main() -> int:
    env = environment()
    from utils.sinks.environment import (
        ConfigError,
        bigquery_client,
        cloud_credentials,
        google_target,
        load_profile,
        storage_client,
    )
    from utils.steps.gcp_setup import (
        SetupRefused,
        Target,
        check_names,
        check_permissions,
        ensure_bucket,
        ensure_dataset,
    )

    try:
        profile = load_profile()
        t = google_target(profile)
        target = Target(t.project, t.bucket, t.dataset, t.location)
        check_names(target)
        credentials = cloud_credentials(profile)
        if credentials is None:
            say(f'profile {profile.name!r}: the local emulators (no IAM there: no permission check)')
            start_emulators(env)
        else:
            from google.auth.transport.requests import AuthorizedSession

            account = getattr(credentials, 'service_account_email', None) or 'your Application Default Credentials'
            check_permissions(AuthorizedSession(credentials), target.project, account)
            say(f'{account} has the roles the pipelines need on project {target.project!r}')
        ensure_bucket(storage_client(profile), target, say)
        ensure_dataset(bigquery_client(profile), target, say)
    except (SetupRefused, ConfigError) as e:
        print(f'[gcp-setup] refused: {e}', file=sys.stderr, flush=True)
        return 2
    say(f'ready: gs://{target.bucket} and {target.project}.{target.dataset}, in {target.location}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
