"""The dashboards' charts get their data: Mage 0.9.80 sends every /api/page_block_layouts/<uuid>/...
request to the layout itself (its "encoded resource ID" route, `.+`, comes before the child
routes), so a dashboard's chart never gets its data ("Chart hasn't been configured or no data
was retrieved"). The chart route (.../block_layout_items/<chart>) goes in front of it.
"""

from __future__ import annotations

import re
import sys
from typing import Any

_mages_make_app: Any = None  # Mage's own, kept by apply()


def make_app_with_dashboard_route(*args, **kwargs):
    """Mage's make_app, then the dashboard charts' route put before Mage's catch-all one for
    page block layouts (it has the same prefix as that one: ROUTES_BASE_PATH is kept)."""
    from mage_ai.server import server
    from tornado.web import URLSpec

    app = _mages_make_app(*args, **kwargs)
    rules = app.wildcard_router.rules
    layouts = next(
        (
            i
            for i, rule in enumerate(rules)
            if 'page_block_layouts)/(?P<pk>.+)' in getattr(rule.matcher, 'regex', re.compile('')).pattern
        ),
        None,
    )
    if layouts is None:  # Mage's routes changed: leave them (an error here would stop the server silently)
        print(
            '[mage_patches] no page_block_layouts route found: dashboard charts left as Mage routes them',
            file=sys.stderr,
            flush=True,
        )
        return app
    prefix = rules[layouts].matcher.regex.pattern.split('/api/')[0]
    rules.insert(
        layouts,
        app.wildcard_router.process_rule(
            URLSpec(
                prefix + r'/api/(?P<resource>page_block_layouts)/(?P<pk>.+)/(?P<child>block_layout_items)'
                r'/(?P<child_pk>[\w\-\%2f\.]+)$',
                server.ApiChildDetailHandler,
            )
        ),
    )
    return app


def apply() -> None:
    from mage_ai.server import server

    global _mages_make_app
    _mages_make_app = server.make_app
    server.make_app = make_app_with_dashboard_route  # start_server looks it up when it starts
