"""Sphinx helpers for the book: its API reference (``book/api``), proof anchors and notebook downloads.

Cross-references to re-exported names. The API reference documents each object once, where it is defined
(``rift_core.neural.trainer.Trainer``), while docstrings and chapters name it
where users import it (``rift_core.neural.Trainer``, ``rift_core.solve_rift``).
On a Python reference that Sphinx cannot resolve, this imports the name (relative
names are tried in the referring module first) and, if the object is a function,
class or module defined in ``rift_core``, links to its canonical name instead.

Compact fields. ``rift_core``'s numpy-style sections write a field as
``name: description`` (or ``a, b: description`` for several), where numpydoc
reads ``name : type``. Before napoleon parses a docstring, such a line in a
``Parameters``, ``Attributes``, ``Other Parameters`` or ``Keyword Arguments`` section is rewritten
as ``name`` with its description indented below, so that the description is
not taken for a type.

Proof anchors. sphinx-proof gives every proof the HTML id ``proof``; each proof
gets ``proof-LABEL`` instead, ``LABEL`` that of the result it follows, so that
a proof can be linked (and the body of each result, also ``proof-content`` for
all, gets ``LABEL-content``).

Notebook downloads. Every chapter stored as a MyST notebook is also offered as
an ``.ipynb`` in the theme's download menu: the notebook as the build executed
it (from myst-nb's ``jupyter_execute`` folder), or, if the build did not
execute it, converted from the source by jupytext.

Offline MathJax. When ``RIFT_MATHJAX_DIR`` names a folder holding
``mathjax/es5/tex-chtml.js`` (``.ci/book`` unpacks the pinned npm package there),
that folder joins the static files and the pages load MathJax from the built
site instead of a CDN, so formulas render without a network.

Book labels. Docstrings cite the book's results by label, as ``thm-residual-form``;
in the rendered API reference each such label becomes a link to the result (and
``the book's ``chapter-label```` a link to the chapter), so that a reference
to a label that does not exist fails the build.
"""

import importlib
import os
import re
import shutil
import types
from pathlib import Path


def _import(dotted):
    """The object at a dotted path, or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(obj):
    """The dotted name where ``obj`` is defined, if it is a module, class or function of ``rift_core``."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and qualname and module.startswith("rift_core"):
        return f"{module}.{qualname}"
    return None


def resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    candidates = [target]
    for context in (node.get("py:class"), node.get("py:module")):
        if context:
            candidates.insert(0, f"{context}.{target}")
    domain = env.get_domain("py")
    for candidate in candidates:
        if not candidate.startswith("rift_core"):
            continue
        obj = _import(candidate)
        canonical = _canonical(obj) if obj is not None else None
        if obj is not None and canonical is None:  # a constant: find where it is documented by identity
            last = "." + candidate.rsplit(".", 1)[-1]
            canonical = next((name for name in domain.objects if name.endswith(last) and _import(name) is obj), None)
        if canonical and canonical != node["reftarget"]:
            new = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], canonical, node, contnode)
            if new is None and node["reftype"] != "obj":
                new = domain.resolve_xref(env, node["refdoc"], app.builder, "obj", canonical, node, contnode)
            if new is not None:
                return new
    return None


_SECTIONS = {"Parameters", "Attributes", "Other Parameters", "Keyword Arguments"}
_NAMES = r"\*{0,2}[A-Za-z_][\w.]*(?:, \*{0,2}[A-Za-z_][\w.]*)*"
_COMPACT = re.compile(rf"^(\s*)({_NAMES}):(?!:)\s+(\S.*)$")
_NAMES_ONLY = re.compile(rf"^(\s*)({_NAMES})\s*$")


def compact_fields(app, what, name, obj, options, lines):
    """Rewrite the field lines of numpy-style sections in place (see the module docstring).

    ``name: text`` becomes ``name`` with ``text`` indented below it; in an ``Attributes`` section (rendered as
    ``:ivar:`` fields, one name each) a field naming several attributes, ``a, b``, is repeated for each.
    """
    section, out, i = None, [], 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and set(lines[i + 1].strip()) == {"-"}:
            section = line.strip()
            out += [line, lines[i + 1]]
            i += 2
            continue
        m = _COMPACT.match(line) if section in _SECTIONS else None
        if m and not line.rstrip().endswith("::"):
            indent, names, body = m.group(1), m.group(2), [f"{m.group(1)}    {m.group(3)}"]
        else:
            m = _NAMES_ONLY.match(line) if section == "Attributes" and "," in line else None
            if not m:
                out.append(line)
                i += 1
                continue
            indent, names, body = m.group(1), m.group(2), []
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            if not lines[i].strip() and (i + 1 == len(lines) or len(lines[i + 1]) - len(lines[i + 1].lstrip())
                                         <= len(indent)):
                break
            body.append(lines[i])
            i += 1
        for field in (names.split(", ") if section == "Attributes" else [names]):
            out += [f"{indent}{field}", *body]
    lines[:] = out


_RESULT = re.compile(r"``((?:thm|lem|prop|cor|def)-[a-z0-9-]+)``")
_CHAPTER = re.compile(r"(the book's )``([a-z0-9-]+)``")


def book_labels(app, what, name, obj, options, lines):
    """Turn the book's labels cited in a docstring into cross-references (see the module docstring)."""
    for i, line in enumerate(lines):
        line = _RESULT.sub(r":prf:ref:`\1`", line)
        lines[i] = _CHAPTER.sub(r"\1:ref:`\2`", line)


_RESULT_ID = re.compile(r"^(?:thm|lem|prop|cor|def)-")


def proof_anchors(app, doctree):
    """Give each proof a unique id after the result it proves (see the module docstring)."""
    from docutils import nodes

    last, seen, contents = None, set(), 0
    for node in doctree.findall(nodes.Element):
        ids = node.get("ids", [])
        result_ids = [i for i in ids if _RESULT_ID.match(i)]
        if result_ids:
            last = result_ids[0]
        elif "proof-content" in ids:  # the body of every result has this id too
            contents += 1
            node["ids"] = [f"{last or contents}-content" if i == "proof-content" else i for i in ids]
        elif "proof" in node.get("classes", []) and "proof" in ids:
            new = f"proof-{last}" if last and f"proof-{last}" not in seen else f"proof-{len(seen) + 1}"
            seen.add(new)
            node["ids"] = [new if i == "proof" else i for i in node["ids"]]
            doctree.ids.pop("proof", None)
            doctree.ids[new] = node


def _is_notebook(app, docname):
    path = Path(app.env.doc2path(docname))
    return path.suffix == ".md" and "kernelspec" in path.read_text(encoding="utf-8")[:2_000]


def offer_ipynb(app, pagename, templatename, context, doctree):
    """Point the download menu at ``_sources/DOCNAME.ipynb`` (written by :func:`write_ipynb`)."""
    if doctree is not None and _is_notebook(app, pagename):
        context["ipynb_source"] = f"{pagename}.ipynb"


def write_ipynb(app, exception):
    """Write ``_sources/DOCNAME.ipynb`` for every notebook chapter (see the module docstring)."""
    if exception is not None or app.builder.format != "html":
        return
    import jupytext

    out, executed = Path(app.outdir) / "_sources", Path(app.outdir).parent / "jupyter_execute"
    for docname in app.env.found_docs:
        if not _is_notebook(app, docname):
            continue
        target = out / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if (executed / f"{docname}.ipynb").exists():
            shutil.copyfile(executed / f"{docname}.ipynb", target)
        else:
            jupytext.write(jupytext.read(app.env.doc2path(docname)), target)


def local_mathjax(app, config):
    """Serve MathJax from ``_static`` when ``RIFT_MATHJAX_DIR`` holds it (see the module docstring)."""
    folder = os.environ.get("RIFT_MATHJAX_DIR")
    if folder and (Path(folder) / "mathjax" / "es5" / "tex-chtml.js").is_file():
        config.html_static_path = [*config.html_static_path, str(Path(folder).resolve())]
        config.mathjax_path = "mathjax/es5/tex-chtml.js"


def setup(app):
    app.connect("config-inited", local_mathjax)
    app.connect("html-page-context", offer_ipynb)
    app.connect("build-finished", write_ipynb)
    app.connect("doctree-read", proof_anchors)
    app.connect("autodoc-process-docstring", book_labels, priority=90)
    app.connect("missing-reference", resolve)
    app.connect("autodoc-process-docstring", compact_fields, priority=100)  # before napoleon (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
