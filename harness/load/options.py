"""The harness's options as Locust custom arguments (command line, config files, web UI form).

Boolean options become ``store_true`` flags, which the web UI shows as checkboxes and config files
set with ``name = true``. Secrets are masked in the form; :mod:`harness.load.live` keeps their
values out of the page itself.
"""

from __future__ import annotations

from typing import Any

from harness.settings import LOAD_OPTIONS


def add_locust_options(parser: Any, **_: Any) -> None:
    """``init_command_line_parser`` listener: one argument per :data:`~harness.settings.LOAD_OPTIONS` entry."""
    for spec in LOAD_OPTIONS:
        if spec.is_flag:
            parser.add_argument(
                spec.flag, action="store_true", default=spec.default, help=spec.help, env_var=spec.env_var
            )
            continue
        parser.add_argument(
            spec.flag,
            type=spec.type,
            default=spec.default,
            help=spec.help,
            env_var=spec.env_var,
            is_secret=spec.secret,
            choices=spec.choices,
        )
