"""Sphinx glue for the package's public names (``mobilestatus_pandas.__all__``).

The public names are defined in modules below the surface (``service/codes``,
``engine/run``, ...) and re-exported by the package. The reference documents them where users
reach them, ``mobilestatus_pandas.X``, so this extension:

- gives a re-exported constant the ``#:`` comment written beside its definition (autodoc looks
  for it in ``mobilestatus_pandas/__init__.py``, where the name is only imported);
- draws the exception tree from the classes themselves (``.. exception-tree::``), so the
  page cannot drift from the code;
- reads Google-style sections (napoleon) in the docstrings of functions and classes only: an
  attribute's docstring is prose, and napoleon would take its words before a colon ("The live
  run report: ...") for a type;
- shows a default given by a named constant of plain value by its value
  (``prefix='mobile_'``, not ``prefix=DEFAULT_PREFIX``; ``autodoc_preserve_defaults`` keeps
  the name, which the reader cannot look up);
- leaves the engine's own methods off the client's page (it is a ``Caller`` underneath), and
  the constructor's signature off :class:`~mobilestatus_pandas.Run` and
  :class:`~mobilestatus_pandas.RunReport` (runs make both);
- resolves a bare method name in an accessor's summary table (``:meth:`status```) to the
  accessor of its row, and on the accessor's own page to that accessor;
- keeps nitpicky mode to references that can resolve: a name the site documents must
  resolve, a name below the public surface (a private module's function) is left as text;
- resolves a cross-reference to a public name by its defining path
  (``mobilestatus_pandas.engine.run.RunReport``, as type hints spell it) to its documented
  page (``mobilestatus_pandas.RunReport``).
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import re
import sys
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.ext import napoleon
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

import mobilestatus_pandas

PACKAGE = "mobilestatus_pandas"
#: Public constants whose definition has another name.
RENAMED = {"TENURE_BANDS": ("mobilestatus_pandas.service.tenure", "BANDS")}
#: Where the re-exported constants are defined.
DEFINING_MODULES = (
    "mobilestatus_pandas",
    "mobilestatus_pandas.service.codes",
    "mobilestatus_pandas.service.result",
    "mobilestatus_pandas.service.tenure",
)


def attribute_doc(name: str) -> list[str]:
    """The ``#:`` comment of the public constant ``name`` where it is defined."""
    candidates = [RENAMED[name]] if name in RENAMED else [(m, name) for m in DEFINING_MODULES]
    for module, attribute in candidates:
        docs = ModuleAnalyzer.for_module(module).find_attr_docs()
        if ("", attribute) in docs:
            return list(docs["", attribute])
    return []


def fill_constant_docs(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    prefix, _, short = name.rpartition(".")
    if what == "data" and prefix == PACKAGE and short in mobilestatus_pandas.__all__:
        found = attribute_doc(short)
        if found:
            lines[:] = found


def public_target(target: str) -> str | None:
    """``mobilestatus_pandas.X`` when ``target`` is a private path to the public name X."""
    if not target.startswith(f"{PACKAGE}."):
        return None
    module, _, name = target.rpartition(".")
    if name not in mobilestatus_pandas.__all__ or module == PACKAGE:
        return None
    try:
        defined = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return f"{PACKAGE}.{name}" if defined is getattr(mobilestatus_pandas, name) else None


def resolve_private_path(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.reference | None:
    if node.get("refdomain") != "py":
        return None
    public = public_target(node["reftarget"])
    if public is None:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
    )


def public_classes(base: type) -> list[type]:
    """The public classes (in ``__all__``) that derive from ``base``, in ``__all__`` order."""
    found = [getattr(mobilestatus_pandas, n) for n in mobilestatus_pandas.__all__]
    return [c for c in found if isinstance(c, type) and issubclass(c, base)]


def tree_lines(root: type, classes: list[type], depth: int = 0) -> list[str]:
    """A nested bullet list of ``root`` and the public classes below it: each under its
    nearest public base, with the built-in exceptions it also is."""
    also = [
        b.__name__
        for b in root.__bases__
        if b.__module__ == "builtins" and b not in (Exception, Warning, UserWarning)
    ]
    text = f":class:`~{PACKAGE}.{root.__name__}`"
    if also:
        text += " (also " + ", ".join(f"``{name}``" for name in also) + ")"
    lines = [f"{'  ' * depth}- {text}", ""]
    for child in classes:
        parents = [c for c in classes if c is not child and issubclass(child, c)]
        nearest = max(parents, key=lambda c: len(c.__mro__), default=None)
        if nearest is root:
            lines += tree_lines(child, classes, depth + 1)
    return lines


class ExceptionTree(SphinxDirective):
    """``.. exception-tree:: MobileStatusError``: the public classes under a root class."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        root = getattr(mobilestatus_pandas, self.arguments[0])
        classes = public_classes(root)
        lines = StringList(tree_lines(root, classes), source="exception-tree")
        container = nodes.container(classes=["exception-tree"])
        self.state.nested_parse(lines, self.content_offset, container)
        return [container]


#: The client is a ``Caller`` (the engine's) with lookups on top: of the ``Caller``'s own
#: methods, the client's page shows these; the rest are the engine's.
CALLER_FOR_USERS = frozenset({"close", "store", "secret_id", "price_for"})
#: ``Caller`` attributes the engine uses (attributes carry no owner to tell them by).
ENGINE_ONLY = frozenset({"limiter"})
#: Classes users never construct: their page shows no constructor signature.
NOT_CONSTRUCTED = frozenset({"mobilestatus_pandas.Run", "mobilestatus_pandas.RunReport"})


def napoleon_for_code_only(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    if what not in ("attribute", "property", "data"):
        napoleon._process_docstring(app, what, name, obj, options, lines)


def skip_engine_methods(
    app: Sphinx, what: str, name: str, obj: object, skip: bool, options: Any
) -> bool | None:
    if what != "class":
        return None
    function = obj.fget if isinstance(obj, property) else obj
    owner = getattr(function, "__qualname__", "").rpartition(".")[0]
    if owner == "Caller" and name not in CALLER_FOR_USERS:
        return True
    if name in ENGINE_ONLY and name not in vars(mobilestatus_pandas.MobileStatusClient):
        return True
    return None


#: A default given by a constant's name in a signature: ``= DEFAULT_PREFIX``.
NAMED_DEFAULT = re.compile(r"(=\s*)([A-Z][A-Z0-9_]*)\b(?!\.)")
#: Values shown in place of their constant's name.
PLAIN_VALUES = (str, int, float, bool, datetime.timedelta)


def constants_of(obj: object) -> dict[str, object]:
    """The module-level names ``obj`` (a function, method or class) sees."""
    function = inspect.unwrap(obj) if callable(obj) else obj
    found = getattr(function, "__globals__", None)
    if found is None:
        found = vars(sys.modules.get(getattr(obj, "__module__", ""), inspect))
    return dict(found)


def tidy_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    if what == "class" and name in NOT_CONSTRUCTED:
        return "", ""
    if not signature:
        return None
    names = constants_of(obj.__init__ if inspect.isclass(obj) else obj)

    def value(match: re.Match[str]) -> str:
        found = names.get(match[2])
        plain = isinstance(found, PLAIN_VALUES)
        return f"{match[1]}{found!r}" if plain else match[0]

    return NAMED_DEFAULT.sub(value, signature), return_annotation


def accessor_of_row(node: nodes.Node) -> str | None:
    """``pandas.DataFrame.mobile`` for a node in the summary row of a ``DataFrame.mobile``
    method (an autosummary table has no class context of its own)."""
    row = node.parent
    while row is not None and not isinstance(row, nodes.row):
        row = row.parent
    if row is None:
        return None
    # the row's first cell links to the method: resolved already, or still pending
    for ref in row.findall(lambda n: isinstance(n, (pending_xref, nodes.reference))):
        target = ref.get("reftarget") or ref.get("refuri", "").rpartition("#")[2]
        owner, _, _ = target.rpartition(".")
        if owner.endswith(".mobile"):
            return owner
    return None


def resolve_in_accessor_row(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.reference | None:
    if node.get("refdomain") != "py" or "." in node["reftarget"]:
        return None
    owner = accessor_of_row(node)
    if owner is None and node.get("py:module") and node.get("py:class"):
        # on the accessor's own page (``DataFrame.mobile``), the context is its class
        owner = f"{node['py:module']}.{node['py:class']}.mobile"
    if owner is None:
        return None
    domain = env.get_domain("py")
    target = f"{owner}.{node['reftarget']}"
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
    )


def documented_names(env: BuildEnvironment) -> set[str]:
    """The last part of every Python object's name the site documents (``status``,
    ``MobileStatusClient``, ...)."""
    return {name.rpartition(".")[2] for name, *_ in env.get_domain("py").get_objects()}


def warn_only_for_documented(app: Sphinx, domain: Any, node: pending_xref) -> bool | None:
    """Nitpicky where a reference can resolve: one naming an object the site documents
    must resolve; one naming a private function or module (``:func:`.display.install```)
    stays text, as no page documents it."""
    if domain is None or domain.name != "py":
        return None
    name = node["reftarget"].lstrip("~.").rpartition(".")[2]
    return True if name not in documented_names(app.env) else None


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("sphinx.ext.napoleon")
    listeners = app.events.listeners["autodoc-process-docstring"]
    listeners[:] = [x for x in listeners if x.handler is not napoleon._process_docstring]
    app.connect("autodoc-process-docstring", napoleon_for_code_only)
    app.connect("autodoc-skip-member", skip_engine_methods)
    app.connect("autodoc-process-signature", tidy_signature)
    app.connect("missing-reference", resolve_in_accessor_row)
    app.add_directive("exception-tree", ExceptionTree)
    app.connect("autodoc-process-docstring", fill_constant_docs)
    app.connect("missing-reference", resolve_private_path)
    app.connect("warn-missing-reference", warn_only_for_documented)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
