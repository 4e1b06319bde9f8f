"""The README and docs/ say what the repo does: every figure and setting they quote from the repo
matches it (SLAs, ports, defaults, pipelines, settings, make targets), every make target is
documented, every relative link resolves, and the README stays a landing page."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / 'README.md', REPO / 'CONTRIBUTING.md', *sorted((REPO / 'docs').glob('*.md'))]
LINK = re.compile(r'(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^```.*?^```', re.M | re.S)


def text(page: Path) -> str:
    return page.read_text()


def make_targets() -> dict[str, str]:
    """{target: its `##` description} of every rule in the Makefile."""
    rules = re.findall(r'^([a-z][a-z-]*):[^=\n]*?(?:##\s*(.*))?$', (REPO / 'Makefile').read_text(), re.M)
    return {name: (doc or '').strip() for name, doc in rules}


def dev_env() -> dict[str, str]:
    return {k: v or '' for k, v in dotenv_values(REPO / 'dev.env', interpolate=False).items()}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    heading = re.sub(r'[`*_]|\[|\]\([^)]*\)', '', heading.strip().lower())
    return re.sub(r'[^\w\- ]', '', heading).replace(' ', '-')


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in re.findall(r'^#+ (.+)$', FENCE.sub('', text(page)), re.M)}


def test_the_readme_is_a_landing_page():
    lines = text(REPO / 'README.md').count('\n')
    assert lines <= 200, f'README.md has {lines} lines: move the details to docs/'
    readme = text(REPO / 'README.md')
    for page in (REPO / 'docs').glob('*.md'):  # every page is reachable from it
        assert f'](docs/{page.name})' in readme, f'README.md does not link docs/{page.name}'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    broken = []
    for target in (a or b for a, b in LINK.findall(FENCE.sub('', text(page)))):
        if re.match(r'^[a-z]+:', target):  # http(s)://, mailto:
            continue
        path, _, anchor = target.partition('#')
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f'{target}: no such file')
        elif anchor and dest.suffix == '.md' and anchor not in anchors(dest):
            broken.append(f'{target}: no heading #{anchor} in {dest.name}')
    assert broken == [], f'{page.name}: {broken}'


def test_every_make_target_is_in_make_help_and_documented():
    targets = make_targets()
    undescribed = [t for t, doc in targets.items() if not doc]
    assert undescribed == [], f'targets with no `## what it does` for make help: {undescribed}'
    shown = subprocess.run(
        ['make', '--no-print-directory', 'help'], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert re.findall(r'^  make (\S+)', shown, re.M) == list(targets)  # one line each, in the Makefile's order
    docs = '\n'.join(map(text, PAGES))
    undocumented = [t for t in targets if not re.search(rf'`make {re.escape(t)}\b|`{re.escape(t)}`', docs)]
    assert undocumented == [], f'make targets the README and docs/ never name: {undocumented}'


def test_every_make_command_the_docs_give_exists():
    targets = make_targets()
    wrong = sorted(
        {
            f'{page.name}: make {t}'
            for page in PAGES
            for t in re.findall(r'\bmake ([a-z][a-z-]+)\b', text(page))
            if t not in targets and t not in ('run', 'test')
        }
    )
    # (prose such as "make sure" is not a target; there is none in these pages)
    assert wrong == [], f'make targets the docs name that the Makefile has not: {wrong}'


def test_every_setting_the_docs_name_is_read_by_the_repo():
    """A `SETTING_NAME` quoted in the docs is read or set somewhere outside them (code, dev.env,
    the compose file, the Makefile), so a renamed or removed setting cannot linger in the docs."""
    tracked = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    code = '\n'.join(
        (REPO / f).read_text(errors='replace')
        for f in tracked
        if not f.endswith(('.md', '.png', '.txt', '.gz', '.parquet', '.csv')) and (REPO / f).is_file()
    )
    named = {n for page in PAGES for n in re.findall(r'`([A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+)\b', text(page))}
    unknown = sorted(n for n in named if not re.search(rf'\b{n}\b', code))
    assert unknown == [], f'settings the docs name that nothing in the repo reads: {unknown}'


def test_the_settings_page_gives_dev_env_s_defaults():
    """Each row `| `A`, `B` | what | `a`, `b` |` of docs/settings.md: a setting dev.env sets has
    dev.env's value as its default."""
    env = dev_env()
    checked = 0
    for row in re.findall(r'^\|(.+)\|$', text(REPO / 'docs' / 'settings.md'), re.M):
        cells = row.split(' | ')
        names, defaults = re.findall(r'`([A-Z_0-9]+)`', cells[0]), re.findall(r'`([^`]*)`', cells[-1])
        if len(cells) != 3 or len(names) != len(defaults):
            continue
        for name, default in zip(names, defaults, strict=False):
            if env.get(name) and '${' not in env[name]:  # (empty in dev.env: the row says what that means)
                assert env[name] == default, (
                    f'docs/settings.md: {name} defaults to {default!r}; dev.env has {env[name]!r}'
                )
                checked += 1
    assert checked >= 15


def test_the_ports_the_docs_quote_are_the_defaults():
    """`MAGE_PORT` (6789) and friends: the figure in brackets is dev.env's and the compose file's."""
    env = dev_env()
    compose = (REPO / 'docker-compose.yml').read_text()
    quoted = [
        (page.name, name, port)
        for page in PAGES
        for name, port in re.findall(r'`([A-Z_]+_PORT)`\s+\((\d+)\)', text(page))
    ]
    assert len(quoted) >= 5
    for page, name, port in quoted:
        assert env[name] == port, f'{page}: {name} ({port}), dev.env says {env[name]}'
        assert f'${{{name}:-{port}}}' in compose, f'{page}: {name} ({port}) is not the compose file default'
    readme = text(REPO / 'README.md')
    assert f'http://localhost:{env["MAGE_PORT"]}' in readme


def test_the_slas_the_docs_quote_are_the_triggers():
    """A sentence quoting an SLA (in seconds, or `N h`) quotes the triggers' `sla:`; one about the
    monthly schedules, theirs (the README once said 3600 where they had 176400)."""
    triggers = [
        t for f in (REPO / 'pipelines').glob('*/triggers.yaml') for t in yaml.safe_load(f.read_text())['triggers']
    ]
    slas = {t['sla'] for t in triggers if t.get('sla')}
    monthly = {t['sla'] for t in triggers if t.get('sla') and t['name'].endswith('_monthly')}
    quoted = []
    for page in PAGES:
        for sentence in re.split(r'(?<=[.;])\s', text(page)):
            if not re.search(r'\bsla\b', sentence, re.I):
                continue
            figures = [int(n) for n in re.findall(r'\b(\d{4,})\b', sentence)]
            figures += [int(h) * 3600 for h in re.findall(r'(?i)\bsla\b[^.]*?\b(\d+) h\b', sentence)[:1]]
            assert set(figures) <= slas, f'{page.name}: SLAs {figures}, triggers.yaml has {sorted(slas)}: {sentence!r}'
            if 'monthly' in sentence:
                assert figures[:1] and figures[0] in monthly, (
                    f"{page.name}: the monthly schedules' SLA is {monthly}: {sentence!r}"
                )
            quoted += figures
    assert quoted, 'no page quotes an SLA'


def test_the_pipelines_the_docs_name_exist_and_each_is_in_the_readme():
    pipelines = {p.parent.name for p in (REPO / 'pipelines').glob('*/metadata.yaml')}
    triggers = {
        t['name']
        for f in (REPO / 'pipelines').glob('*/triggers.yaml')
        for t in yaml.safe_load(f.read_text())['triggers']
    }
    blocks = {
        b['uuid'] for f in (REPO / 'pipelines').glob('*/metadata.yaml') for b in yaml.safe_load(f.read_text())['blocks']
    }
    readme = text(REPO / 'README.md')
    assert [p for p in sorted(pipelines) if f'`{p}`' not in readme] == []
    pattern = re.compile(r'`((?:api|gcs)_to_[a-z_]+|[a-z]+_marts|green_taxi_etl[a-z_]*)`')
    unknown = sorted(
        {
            f'{page.name}: {n}'
            for page in PAGES
            for n in pattern.findall(text(page))
            if n not in pipelines | triggers | blocks
        }
    )
    assert unknown == [], f'pipeline, trigger or block names the docs give that the repo has not: {unknown}'


def test_every_file_the_docs_name_exists():
    """A `utils/…`, `scripts/…`, `tests/…` (and the other folders') path quoted in the docs names a
    file or folder of the repo, or a module's function (`utils/domain/taxi_files.iter_parquet_batches`):
    a file moved or renamed cannot linger in the docs."""
    folders = 'utils|scripts|tests|charts|dashboards|dbt|pipelines|data_loaders|transformers|data_exporters|custom|sensors|docs|samples'
    missing = []
    for page in PAGES:
        for path in re.findall(rf'`((?:{folders})/[A-Za-z0-9_./-]+)', text(page)):
            path = path.split('::')[0].rstrip('/.')
            module = re.sub(r'\.\w+(\(\))?$', '', path)  # utils/x/y.function -> utils/x/y
            if not any((REPO / p).exists() for p in (path, module, f'{module}.py')):
                missing.append(f'{page.name}: {path}')
    assert missing == [], f'paths the docs name that the repo has not: {missing}'


# What the code reads from the environment that is not one of the project's settings.
NOT_SETTINGS = {
    'HOME': "the user's home (where Mage keeps its data by default)",
    'PYTHONPATH': 'the Python path the Makefile and the Dockerfile set',
    'NAME': "a placeholder in environment.py's docstring (env_var('NAME'))",
    'POSTGRES_DB': "the postgres image's own variable, set in the compose file from POSTGRES_DBNAME",
    'USER_CODE_PATH': "a build argument of the Dockerfile, as in Mage's image",
}
SETTING_READ = [
    re.compile(r"""os\.environ(?:\.get|\.setdefault|\.pop)?\(\s*['"]([A-Z][A-Z0-9_]+)['"]"""),
    re.compile(r"""os\.environ\[\s*['"]([A-Z][A-Z0-9_]+)['"]\s*\]"""),
    re.compile(r"""os\.getenv\(\s*['"]([A-Z][A-Z0-9_]+)['"]"""),
    re.compile(r"""env_var\(\s*['"]([A-Z][A-Z0-9_]+)['"]"""),
    re.compile(r"""\benv(?:iron)?\.get\(\s*['"]([A-Z][A-Z0-9_]+)['"]"""),
    re.compile(r"""\benv\[\s*['"]([A-Z][A-Z0-9_]+)['"]\s*\]"""),
    re.compile(r"""\$\$?\{([A-Z][A-Z0-9_]+)"""),
    re.compile(r"""^([A-Z][A-Z0-9_]+)=""", re.M),  # dev.env
]


def settings_read() -> dict[str, set[str]]:
    """{variable: files} of every environment variable the code, the configs, dev.env, the
    compose file, the Dockerfile and the Makefile read (the tests' own are theirs)."""
    names = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    found: dict[str, set[str]] = {}
    for name in names:
        if name.startswith('tests/') or not (
            name.endswith(('.py', '.yml', '.yaml', '.sh', '.sql', '.env'))
            or Path(name).name in ('Makefile', 'Dockerfile')
        ):
            continue
        content = (REPO / name).read_text(errors='replace')
        for pattern in SETTING_READ:
            if pattern.pattern.startswith('^') and not name.endswith('.env'):
                continue
            for match in pattern.finditer(content):
                found.setdefault(match.group(1), set()).add(name)
    return found


def test_every_setting_the_code_reads_is_on_the_settings_page():
    page = text(REPO / 'docs' / 'settings.md')
    read = settings_read()
    assert {'TAXI_SOURCE', 'POSTGRES_PASSWORD', 'GCS_PORT', 'COURSE_POSTGRES_DBNAME'} <= set(read)  # the scan sees them
    missing = {
        name: sorted(files) for name, files in read.items() if f'`{name}`' not in page and name not in NOT_SETTINGS
    }
    assert missing == {}, f'read by the code, not on docs/settings.md: {missing}'
    assert not set(NOT_SETTINGS) - set(read), 'an exemption for a variable nothing reads any more'
