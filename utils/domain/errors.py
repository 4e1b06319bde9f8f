"""An error's one line for a person: its type and text, then the notes added on its way up (the
month it was loading, the run's work files), with the month and the short cause first.

utils/steps/failures.py says it first in a failed block's log, on the alert and in load_audit;
utils/steps/audit.py writes it as a failed attempt's error.
"""

from __future__ import annotations

import re


def add_note(error: BaseException, note: str) -> None:
    """BaseException.add_note, which Python 3.10 (the mageai/mageai image's) lacks: there the note
    goes where 3.11 keeps it, __notes__, which reason() reads on both."""
    if hasattr(error, 'add_note'):
        error.add_note(note)
    else:
        error.__notes__ = [*getattr(error, '__notes__', ()), note]  # type: ignore[attr-defined]


FAILED_FOR = re.compile(r'^\S+ failed for (\S+ \d{4}-\d{2})\b')  # the note taxi_pipeline adds: the month


def reason(error: BaseException) -> str:
    """The exception's line and the notes added on its way up (which name the month and the
    run's work files), joined into one line, after the month and the error's short cause when
    they are known (`yellow 2021-05, HTTP 404 Not Found: SourceError: GET …`): the first words
    are what a narrow log column shows."""
    notes = [str(n) for n in getattr(error, '__notes__', ())]
    lines = [f'{type(error).__name__}: {error}', *notes]
    text = '; '.join(' '.join(line.split()) for line in lines if line.strip())
    month = next((m.group(1) for n in notes if (m := FAILED_FOR.match(n))), None)
    head = ', '.join(str(part) for part in (month, getattr(error, 'cause', None)) if part)
    return f'{head}: {text}' if head else text
