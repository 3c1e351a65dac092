"""Sphinx configuration of dglbal's documentation (``make docs``).

The API reference is generated from the package: every subpackage whose ``__init__`` defines
``__all__`` gets a page listing exactly those names (see :func:`write_api_pages`), so a name
added to an ``__all__``, or a new public subpackage, appears without editing the docs.
"""
import importlib
import os
import pkgutil
import re
import sys
import types
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")
DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout's dglbal, not an installed one

import dglbal  # noqa: E402

project = "dglbal"
author = "the dglbal authors"
copyright = "the dglbal authors, Apache-2.0"  # noqa: A001 (Sphinx's name)
release = dglbal.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5",
                    "auto_examples/*.pickle"]

# Warnings are errors (make docs passes -W) and references must resolve; names of other
# packages cannot (no network at build time, so no intersphinx): those are ignored here.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|dgl|np|numpy|scipy|nn|pathlib|matplotlib|pandas|typing|collections"
               r"|hypothesis|lightning|os|argparse|contextlib|enum|abc|threading|subprocess"
               r"|tempfile|io|types|numbers)(\..*)?"),
    (r"py:.*", r"(int|float|str|bool|bytes|dict|list|tuple|set|frozenset|object|type|callable"
               r"|Callable|None|Any|Optional|Union|Iterable|Iterator|Sequence|Mapping"
               r"|Dict|List|Tuple|Set|Path|Tensor|Module|DGLGraph|PathLike|ndarray"
               r"|Exception|ValueError|TypeError|RuntimeError|KeyError|OSError"
               r"|FileNotFoundError|NotADirectoryError|UserWarning|NotImplementedError"
               r"|ImportError|ModuleNotFoundError|Warning|optional|default|array_like"
               r"|function|module|generator|iterable|sequence|mapping|Literal.*)"),
]

autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # the class template lists the members
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False

myst_heading_anchors = 4
myst_enable_extensions = ["dollarmath"]

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # only these run at build time (small data, seconds)
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "plot_gallery": "True",
}

html_theme = "furo"
html_title = f"dglbal {release}"
html_static_path: list = []
html_show_sourcelink = False

doctest_global_setup = "import os\nos.environ.setdefault('DGLBACKEND', 'pytorch')"

API = DOCS / "api"


def public_packages() -> list:
    """dglbal and every subpackage of it whose ``__init__`` declares ``__all__`` (none with a
    private component in its name), in import order."""
    names = ["dglbal"]
    for info in pkgutil.walk_packages(dglbal.__path__, "dglbal."):
        if info.ispkg and not any(part.startswith("_") for part in info.name.split(".")):
            if hasattr(importlib.import_module(info.name), "__all__"):
                names.append(info.name)
    return names


def public_modules() -> list:
    """Every module of dglbal without a private component in its name."""
    return [info.name for info in pkgutil.walk_packages(dglbal.__path__, "dglbal.")
            if not any(part.startswith("_") for part in info.name.split("."))]


def home_packages(packages: list) -> dict:
    """For each function and class some ``__all__`` lists, the most specific package listing
    it: its reference page is there, other packages link to it."""
    homes: dict = {}
    for name in sorted(packages, key=len):
        module = importlib.import_module(name)
        for member in module.__all__:
            value = getattr(module, member)
            if isinstance(value, type) or callable(value):
                homes[id(value)] = f"{name}.{member}"
    return homes


def write_api_pages() -> None:
    """``api/<package>.rst`` for each public package, listing its ``__all__``; a page per
    module (its docstring, so that references to a module resolve); and the index."""
    (API / "modules").mkdir(parents=True, exist_ok=True)
    packages = public_packages()
    modules = [m for m in public_modules() if m not in packages]
    homes = home_packages(packages)
    for name in packages:
        module = importlib.import_module(name)
        objects, links, submodules = [], [], []
        for member in module.__all__:
            value = getattr(module, member)
            if isinstance(value, types.ModuleType):
                if value.__name__ not in packages:
                    submodules.append(value.__name__)
            elif member.startswith("__"):
                continue
            elif homes.get(id(value), f"{name}.{member}") != f"{name}.{member}":
                links.append("~" + homes[id(value)].removeprefix(f"{name}."))
            else:
                objects.append(member)
        lines = [f"``{name}``", "=" * (len(name) + 4), "", f".. automodule:: {name}",
                 "   :no-members:", "", f".. currentmodule:: {name}", ""]
        if objects:
            lines += [".. autosummary::", "   :toctree: generated", ""]
            lines += [f"   {n}" for n in objects] + [""]
        if links:
            lines += ["Also here, documented in their own package:", "",
                      ".. autosummary::", ""] + [f"   {n}" for n in links] + [""]
        if submodules:
            lines += ["Modules: " + ", ".join(f":mod:`{n}`" for n in submodules), ""]
        _write(API / f"{name}.rst", "\n".join(lines))
    for name in modules:  # the names of no __all__ documented here
        module = importlib.import_module(name)
        public = [n for n, v in vars(module).items()
                  if id(v) in homes or getattr(v, "__module__", name) != name]
        _write(API / "modules" / f"{name}.rst",
               "\n".join([f"``{name}``", "=" * (len(name) + 4), "",
                          f".. automodule:: {name}", "   :members:", "   :undoc-members:",
                          f"   :exclude-members: {', '.join(public)}", ""]))
    index = ["API reference", "=============", "",
             "Every public name of dglbal: each package's ``__all__``, one page per name, "
             "with its signature, parameters and examples.", "",
             ".. toctree::", "   :maxdepth: 1", ""] + [f"   {n}" for n in packages]
    index += ["", "Modules", "-------", "",
              "The modules the packages are made of, with what each one does; their public "
              "names are documented in the packages above.", "",
              ".. toctree::", "   :maxdepth: 1", ""] + [f"   modules/{n}" for n in modules]
    _write(API / "index.rst", "\n".join(index) + "\n")


def _write(path: Path, text: str) -> None:
    """Write only on change, so Sphinx does not rebuild untouched pages."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


write_api_pages()

PLAIN_ABS = re.compile(r"(?<![`\w|])\|([^|`\n]+)\|(?![`\w|])")


def rst_docstring(app, what, name, obj, options, lines) -> None:
    """The docstrings are written to read as plain text in ``help()`` too: ``|x|`` (an
    absolute value or norm) becomes a literal."""
    for i, line in enumerate(lines):
        lines[i] = PLAIN_ABS.sub(r"``|\1|``", line)


HOMES: dict = {}


def _documented_name(target: str, module: str):
    """Where the dglbal object a dotted ``target`` names (absolute, or relative to ``module``
    or its package) is documented: its home package (:func:`home_packages`, data included,
    matched by name and identity), else the module that defines it; attributes of a class
    follow the class."""
    if not HOMES:
        packages = public_packages()
        HOMES.update(home_packages(packages))
        for name in packages:  # constants, by name and identity
            module_ = importlib.import_module(name)
            for member in module_.__all__:
                HOMES.setdefault((member, id(getattr(module_, member))), f"{name}.{member}")
    target = target.lstrip(".~")
    for base in (None, module, module.rsplit(".", 1)[0] if module else None):
        parts = (f"{base}.{target}" if base else target).split(".")
        for cut in range(len(parts), 0, -1):
            try:
                value = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            chain = [value]
            try:
                for attr in parts[cut:]:
                    chain.append(getattr(chain[-1], attr))
            except AttributeError:
                break
            for depth in range(len(chain) - 1, -1, -1):
                value, rest = chain[depth], parts[cut + depth:]
                home = HOMES.get(id(value)) or HOMES.get((parts[cut + depth - 1], id(value)))
                if home is None and isinstance(value, type) and value.__module__ \
                        .startswith("dglbal"):
                    home = f"{value.__module__}.{value.__qualname__}"
                if home is not None:
                    return ".".join([home, *rest])
            return None
    return None


def resolve_alias(app, env, node, contnode):
    """Resolve a reference to a dglbal name through another path than its documented one
    (``dglbal.analyze`` for ``dglbal.symmetry.analyze``, a name imported into a module, a
    method through its class's alias)."""
    target, module = node.get("reftarget", ""), node.get("py:module") or ""
    if node.get("refdomain") != "py" or not (target.startswith("dglbal")
                                            or module.startswith("dglbal")):
        return None
    home = _documented_name(target, module)
    if home is None or home == target:
        return None
    found = env.get_domain("py").resolve_any_xref(env, node["refdoc"], app.builder, home, node,
                                                  contnode)
    return found[0][1] if found else None


def public_bases(app, name, obj, options, bases) -> None:
    """Show a class's public bases: a private base (``dglbal.nn._base.GraphLayer``) is
    replaced by its own bases."""
    i = 0
    while i < len(bases):
        base = bases[i]
        if base.__module__.startswith("dglbal") and any(
                part.startswith("_") for part in f"{base.__module__}.{base.__name__}".split(".")):
            bases[i:i + 1] = [b for b in base.__bases__ if b not in bases]
        else:
            i += 1


def setup(app) -> None:
    app.connect("missing-reference", resolve_alias)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("autodoc-process-docstring", rst_docstring, priority=100)  # before numpydoc
