"""Shared code of the Mage blocks, imported as `from utils.<module> import ...`.

PYTHONPATH must hold the repo root (the Makefile, Dockerfile and pytest config set it).
Log records of these modules go to the current sys.stdout, which Mage captures per block.
"""

import logging
import sys
import warnings

# Google's client libraries warn about Python and grpcio support windows on every import.
warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\.')


class _CurrentStdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at emit time (Mage swaps it while a block runs)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


_log = logging.getLogger(__name__)
if not _log.handlers:
    _handler = _CurrentStdoutHandler()
    _handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False
