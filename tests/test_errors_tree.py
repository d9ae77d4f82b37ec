"""The exception tree drawn in ``errors``' docstring is the tree of the classes."""

from __future__ import annotations

import re

import mobilestatus_pandas.errors as errors


def test_the_drawn_tree_matches_the_classes() -> None:
    doc = errors.__doc__ or ""
    stack: list[tuple[int, str]] = []
    drawn = 0
    for line in doc.splitlines():
        match = re.match(r"^(\s*(?:[│ ]   )*)[├└]── (\w+)", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4
        name = match.group(2)
        stack = stack[: depth - 1] if depth > 1 else []
        parent = stack[-1][1] if stack else "MobileStatusError"
        cls = getattr(errors, name)
        assert getattr(errors, parent) in cls.__bases__, f"{name} is drawn under {parent}"
        stack.append((depth, name))
        drawn += 1
    public = [
        c
        for c in vars(errors).values()
        if isinstance(c, type)
        and issubclass(c, errors.MobileStatusError)
        and c is not errors.MobileStatusError
    ]
    assert drawn == len(public)
