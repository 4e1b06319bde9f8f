"""GCP set-up in one step: the bucket and the BigQuery dataset, in one location, or a refusal
that says what to change. Idempotent: what exists and fits is left as it is.

The checks, in order (the first that fails stops the set-up, before anything is created):
1. names: a dataset name with a dash (BigQuery takes letters, digits and underscores), a bucket
   name GCS would refuse;
2. on real GCP, the account's permissions, asked of the project (Resource Manager's
   testIamPermissions): a missing one is named with the role that grants it;
3. the bucket: created in GOOGLE_LOCATION if missing; refused if the name is someone else's
   (bucket names are global) or the bucket is in a location the dataset cannot read from;
4. the dataset: created in GOOGLE_LOCATION if missing; refused if it is in another location.

BigQuery reads a bucket only in its own location ("Cannot read and write in different
locations"): a dataset in a multi-region (US, EU) reads buckets of that multi-region or of a
region inside it; a regional dataset reads buckets of that region only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

RESOURCE_MANAGER_URL = 'https://cloudresourcemanager.googleapis.com'

# permission -> the predefined role that grants it, as the Console names it
NEEDED = {
    'storage.buckets.get': ('roles/storage.admin', 'Storage Admin'),
    'storage.buckets.create': ('roles/storage.admin', 'Storage Admin'),
    'storage.objects.create': ('roles/storage.admin', 'Storage Admin'),
    'storage.objects.delete': ('roles/storage.admin', 'Storage Admin'),
    'storage.objects.get': ('roles/storage.admin', 'Storage Admin'),
    'storage.objects.list': ('roles/storage.admin', 'Storage Admin'),
    'bigquery.datasets.get': ('roles/bigquery.dataEditor', 'BigQuery Data Editor'),
    'bigquery.datasets.create': ('roles/bigquery.dataEditor', 'BigQuery Data Editor'),
    'bigquery.tables.create': ('roles/bigquery.dataEditor', 'BigQuery Data Editor'),
    'bigquery.tables.updateData': ('roles/bigquery.dataEditor', 'BigQuery Data Editor'),
    'bigquery.tables.getData': ('roles/bigquery.dataEditor', 'BigQuery Data Editor'),
    'bigquery.jobs.create': ('roles/bigquery.jobUser', 'BigQuery Job User'),
}
MULTI_REGIONS = {'US': ('US-', 'NAM4'), 'EU': ('EUROPE-', 'EUR4')}


class SetupRefused(RuntimeError):
    """The set-up cannot go on; the message says what is wrong and what to change."""


@dataclass(frozen=True)
class Target:
    project: str
    bucket: str
    dataset: str
    location: str


def check_names(target: Target) -> None:
    """Refuse names GCS or BigQuery would refuse, before any request."""
    for setting, value in (
        ('GOOGLE_PROJECT_ID', target.project),
        ('GCS_BUCKET', target.bucket),
        ('BIGQUERY_DATASET', target.dataset),
        ('GOOGLE_LOCATION', target.location),
    ):
        if not value.strip():
            raise SetupRefused(f'{setting} is empty: set it in .env')
    if '-' in target.dataset:
        raise SetupRefused(
            f'BIGQUERY_DATASET={target.dataset!r} has a dash: BigQuery dataset names take letters, digits '
            f'and underscores only; use {target.dataset.replace("-", "_")!r}'
        )
    if not re.fullmatch(r'[A-Za-z0-9_]{1,1024}', target.dataset):
        raise SetupRefused(
            f'BIGQUERY_DATASET={target.dataset!r}: BigQuery dataset names take letters, digits '
            'and underscores only (at most 1024)'
        )
    if not re.fullmatch(r'[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]', target.bucket) or target.bucket.startswith('goog'):
        raise SetupRefused(
            f'GCS_BUCKET={target.bucket!r}: bucket names are 3-63 lowercase letters, digits, '
            'dashes, underscores or dots, start and end with a letter or digit, and do not '
            'start with "goog"'
        )


def can_read(dataset_location: str, bucket_location: str) -> bool:
    """Whether a dataset in `dataset_location` loads from a bucket in `bucket_location`."""
    dataset, bucket = dataset_location.upper(), bucket_location.upper()
    if dataset == bucket:
        return True
    inside = MULTI_REGIONS.get(dataset)
    return inside is not None and (bucket.startswith(inside[0]) or bucket == inside[1])


def missing_roles(granted: set[str]) -> dict[str, list[str]]:
    """{'Storage Admin (roles/storage.admin)': [missing permissions]} for what is not granted."""
    missing: dict[str, list[str]] = {}
    for permission, (role, title) in NEEDED.items():
        if permission not in granted:
            missing.setdefault(f'{title} ({role})', []).append(permission)
    return missing


def granted_permissions(session, project: str, base_url: str = RESOURCE_MANAGER_URL) -> set[str]:
    """Ask the project which of NEEDED the caller has (POST …/v1/projects/<p>:testIamPermissions;
    `session` is an authorized requests session). A permission the caller lacks is left out."""
    answer = session.post(
        f'{base_url}/v1/projects/{project}:testIamPermissions', json={'permissions': sorted(NEEDED)}, timeout=30
    )
    if answer.status_code == 403:
        raise SetupRefused(
            f"project {project!r} refused to list the caller's permissions (HTTP 403): the project id is "
            'wrong, or the Cloud Resource Manager API is off (turn it on in the Console: APIs & Services)'
        )
    if answer.status_code != 200:
        raise SetupRefused(
            f'testIamPermissions on project {project!r} answered HTTP {answer.status_code}: {answer.text[:300]}'
        )
    return set(answer.json().get('permissions', []))


def check_permissions(session, project: str, account: str, base_url: str = RESOURCE_MANAGER_URL) -> None:
    missing = missing_roles(granted_permissions(session, project, base_url))
    if missing:
        lines = '; '.join(f'{role}, for {", ".join(perms)}' for role, perms in missing.items())
        raise SetupRefused(
            f'{account} lacks roles on project {project!r}: {lines}. Grant them in the Console: '
            'IAM & Admin > IAM > the account > Edit > Add another role'
        )


def ensure_bucket(client, target: Target, say: Callable[[str], None]) -> None:
    from google.api_core.exceptions import Conflict, Forbidden

    name = target.bucket
    try:
        bucket = client.lookup_bucket(name)
    except Forbidden:
        raise SetupRefused(_taken(name)) from None
    if bucket is None:
        try:
            bucket = client.create_bucket(name, location=target.location)
        except Conflict:  # someone else's, created in another project
            raise SetupRefused(_taken(name)) from None
        say(f'created bucket gs://{name} in {bucket.location}')
    else:
        say(f'bucket gs://{name} is there, in {bucket.location}')
    if not can_read(target.location, bucket.location):
        raise SetupRefused(
            f'bucket gs://{name} is in {bucket.location} and GOOGLE_LOCATION is {target.location}: BigQuery '
            "cannot read and write in different locations. Set GOOGLE_LOCATION to the bucket's location "
            '(before the dataset exists), or use another bucket name'
        )


def _taken(name: str) -> str:
    return (
        f'bucket name {name!r} is taken by another project (bucket names are global across all of '
        'Google Cloud): set GCS_BUCKET to another name, e.g. with your project id in it'
    )


def ensure_dataset(client, target: Target, say: Callable[[str], None]) -> None:
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    dataset_id = f'{target.project}.{target.dataset}'
    try:
        dataset = client.get_dataset(dataset_id)
        say(f'dataset {dataset_id} is there, in {dataset.location}')
    except NotFound:
        spec = bigquery.Dataset(dataset_id)
        spec.location = target.location
        dataset = client.create_dataset(spec, exists_ok=True)
        say(f'created dataset {dataset_id} in {dataset.location}')
    if dataset.location.upper() != target.location.upper():
        raise SetupRefused(
            f'dataset {dataset_id} is in {dataset.location} and GOOGLE_LOCATION is {target.location}: a '
            'dataset cannot move. Set GOOGLE_LOCATION to its location (if the bucket is there too), or set '
            'BIGQUERY_DATASET to a new name'
        )
