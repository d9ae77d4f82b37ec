"""The ``mobilestatus`` command's parser for sphinx-argparse (``reference/cli.rst``).

sphinx-argparse reads help texts as reStructuredText, where a word ending in ``_`` (the
default prefix ``mobile_``) is a link to a target that does not exist, and ``--flag`` becomes
an en dash and a word. The texts are written for a terminal, so they are marked up here
rather than changed at their source.
"""

from __future__ import annotations

import argparse
import re

from mobilestatus_pandas.cli import build_parser

TRAILING_UNDERSCORE = re.compile(r"(\w)_(?=\W|$)")
FLAG = re.compile(r"(?<![\w`-])(--?[a-z][a-z-]*)")


def escape(text: str | None) -> str | None:
    """``mobile_`` as ``mobile\\_`` (text, not a reference), ``--flag`` as code."""
    if text is None:
        return None
    return FLAG.sub(r"``\1``", TRAILING_UNDERSCORE.sub(r"\1\\_", text))


def escaped(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = escape(parser.description)
    for action in parser._actions:
        action.help = escape(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = escape(choice.help)
            for sub in action.choices.values():
                escaped(sub)
    return parser


def parser() -> argparse.ArgumentParser:
    """``mobilestatus_pandas.cli.build_parser()``, its help texts escaped for reST."""
    return escaped(build_parser())
