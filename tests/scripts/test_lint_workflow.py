"""scripts/dev/lint.py's checks of the GitHub Actions workflow: the committed one passes, and each
checker fails on what it is there for (a copy of the workflow with one fault)."""

from __future__ import annotations

from scripts.dev import lint

WORKFLOW = lint.REPO_ROOT / '.github' / 'workflows' / 'ci.yml'


def check(tool: str, path) -> bool:
    args = {'actionlint': [str(lint.BIN / 'actionlint')], 'zizmor': [str(lint.BIN / 'zizmor'), '--offline']}[tool]
    return lint.run(f'{tool} {path.name}', [*args, str(path)])


def test_the_committed_workflow_passes_both():
    assert lint.WORKFLOWS == ['.github/workflows/ci.yml']
    assert check('actionlint', WORKFLOW) and check('zizmor', WORKFLOW)


def test_each_checker_finds_its_fault(tmp_path, capsys):
    text = WORKFLOW.read_text()
    unpinned = tmp_path / 'unpinned.yml'  # an action by tag, which its owner can move
    unpinned.write_text(
        text.replace('actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8', 'actions/checkout@v5')
    )
    assert check('actionlint', unpinned)
    assert not check('zizmor', unpinned)
    assert 'unpinned-uses' in capsys.readouterr().out
    typo = tmp_path / 'typo.yml'  # a job that needs one that does not exist
    typo.write_text(text.replace('needs: quick', 'needs: quik'))
    assert not check('actionlint', typo)
    assert 'quik' in capsys.readouterr().out
