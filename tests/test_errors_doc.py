"""docs/errors.md lists every message r3d can raise or warn (issue 13).

The source of ``r3d/`` is read with :mod:`ast` (nothing is imported). A *message site* is

- every construction of an exception users see (``ValueError(...)``, ``CLIError(...)``,
  ``argparse.ArgumentTypeError(...)``, ...: any callee named ``*Error`` but the programming
  errors in ``INTERNAL``), whether it is raised there or returned by a helper such as
  ``data.varies_error`` and raised by its callers;
- every ``warn(...)``, ``notes.warn(...)`` or ``warnings.warn(...)``;
- every ``sys.stderr.write(...)`` of ``r3d/cli.py`` (the command line's own lines; the
  bootstrap's progress line, ``progress=True``, is a display and not a message).

Its text is followed to the literal that identifies it:

- ``message(name, expected, got, fix)`` (the house helper) gives ``"must be " + expected`` up to
  the first placeholder, because rows quote the shape `` `name` must be expected ``; when
  ``name`` is a literal, the doc row (table line or paragraph) holding the key must also name
  `` `name` `` (so one row cannot silently stand for another argument's message);
- any other text gives the longest literal piece (f-string text between placeholders) of its
  first sentence (the rest is advice, in the row's "What to do"); if that piece is too short
  to identify the message, every piece, all of which must then be in one row;
- a variable is followed to its assignments in the function (each assignment in another
  branch is another message), then to a module constant; ``a if c else b`` is two messages
  when it is the whole text, and a part that varies inside a text; a call of a function of the module
  that returns the text (``_one_outcome_error``, ``insufficient_data_message``) is followed
  to each of its ``return`` expressions;
- ``"sep".join(parts)`` is followed to the list ``parts`` was built as.

The key is looked up in ``docs/errors.md`` after normalising whitespace, backticks and case.
A site whose text comes from its caller (a parameter) has nothing to look up: it must be
listed in ``NO_TEXT`` with the reason, and every ``NO_TEXT`` entry must still match a site.
The NumPy twins of the kernels (``r3d/_ext/*_numpy.py``) are test references users never
call, and are skipped.
"""

from __future__ import annotations

import ast
import itertools
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "errors.md"

#: Exceptions that signal a bug or Python protocol rather than bad input: their text is for
#: developers (``__getattr__``'s AttributeError) or never leaves the package (``_Unsupported``
#: is caught by ``duckdb.translate_formula`` and re-raised as the documented ``formula`` error).
INTERNAL = {"AttributeError", "NotImplementedError", "_Unsupported"}
#: A key shorter than this identifies nothing.
MIN_KEY = 12
#: Files users never reach: the NumPy twins of the compiled kernels, used only by tests.
SKIP = ("r3d/_ext/*_numpy.py",)

#: Sites that carry no text of their own. Each entry: file, the enclosing function (qualified
#: by its class if any; line numbers would go stale), and why the text is documented elsewhere.
NO_TEXT = {
    ("r3d/_validation.py", "warn"):
        "the warn wrapper forwards its caller's text to warnings.warn; every caller is a site",
    ("r3d/_validation.py", "Notes.warn"):
        "Notes.warn forwards its caller's text to warn(); every caller (notes.warn(...)) is a site",
    ("r3d/cli.py", "main"):
        "'r3d: error: <message>' prints the text of an exception raised elsewhere (each one a site); "
        "the form itself is described in the command line section",
}
#: ``NO_TEXT`` applies only to sites without an identifying literal: a message with text added to
#: one of these functions is still looked up.


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    function: str  # qualified name of the enclosing function ("" at module level)
    kind: str  # exception class, or "warning"
    key: tuple[str, ...] | None  # literal pieces that must all be in one doc row; None: the text
    #: is a parameter of ``function`` (given by its caller)
    name: str | None  # the literal argument name of a ``message(...)``, if any

    def __str__(self) -> str:
        return f"{self.file}:{self.line} ({self.function or 'module'}) {self.kind}: {self.key!r}"


def _callee(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else node
    return f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")


class _Module:
    """One source file: its functions and module constants, and the keys of its messages."""

    MAX_VARIANTS = 32

    def __init__(self, rel: str, source: str) -> None:
        self.rel = rel
        self.tree = ast.parse(source)
        self.funcs: list[tuple[str, ast.FunctionDef]] = []
        self._qualify(self.tree, "")
        self.by_name = {}
        for _qual, f in self.funcs:
            self.by_name.setdefault(f.name, f)
        self.constants = {t.id: n.value for n in self.tree.body if isinstance(n, ast.Assign)
                          for t in n.targets if isinstance(t, ast.Name)}

    def _qualify(self, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                self.funcs.append((prefix + child.name, child))
                self._qualify(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                self._qualify(child, prefix + child.name + ".")
            else:
                self._qualify(child, prefix)

    def enclosing(self, line: int) -> tuple[str, ast.FunctionDef | None]:
        inner = [(q, f) for q, f in self.funcs if f.lineno <= line <= f.end_lineno]
        return min(inner, key=lambda qf: qf[1].end_lineno - qf[1].lineno) if inner else ("", None)

    # -- following a text expression to its literal pieces ------------------------------------
    def _assignments(self, func: ast.AST | None, name: str, before: int) -> list[ast.AST]:
        if func is None:
            return []
        found = [n.value for n in ast.walk(func) if isinstance(n, ast.Assign) and n.lineno < before
                 and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name]
        return found

    def variants(self, node: ast.AST, func: ast.AST | None, line: int, seen: frozenset = frozenset(),
                 whole: bool = True) -> list[list[str] | None]:
        """The possible texts of ``node`` as lists of literal pieces ("\\0" = a placeholder);
        None if the ``whole`` text is given by the caller (a parameter of ``func``)."""
        hole = [["\0"]]
        if isinstance(node, ast.Constant):
            return [[node.value]] if isinstance(node.value, str) else hole
        if isinstance(node, ast.Name):
            if node.id in seen:
                return hole
            values = self._assignments(func, node.id, line)
            if values:
                return self._union([self.variants(v, func, line, seen | {node.id}, whole) for v in values])
            if node.id in self.constants:
                return self.variants(self.constants[node.id], None, 0, seen | {node.id}, whole)
            params = {a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)} if func else set()
            return [None] if whole and node.id in params else hole
        if isinstance(node, ast.JoinedStr):
            parts = [self.variants(v.value, func, line, seen, False) if isinstance(v, ast.FormattedValue)
                     and isinstance(v.value, ast.Name) else [[v.value]] if isinstance(v, ast.Constant) else hole
                     for v in node.values]
            return self._product(parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._product([self.variants(node.left, func, line, seen, False),
                                  self.variants(node.right, func, line, seen, False)])
        if isinstance(node, ast.IfExp) and whole:  # inside a text, a choice is a part that varies
            return self._union([self.variants(node.body, func, line, seen, whole),
                                self.variants(node.orelse, func, line, seen, whole)])
        if isinstance(node, ast.Call) and _callee(node) == "join" and len(node.args) == 1:
            arg = node.args[0]
            lists = self._assignments(func, arg.id, line) if isinstance(arg, ast.Name) else [arg]
            elts = [e for v in lists if isinstance(v, ast.List | ast.Tuple) for e in v.elts]
            if elts:
                sep = self.variants(node.func.value, func, line, seen, False) \
                    if isinstance(node.func, ast.Attribute) else [["\0"]]
                parts = [self.variants(e, func, line, seen, False) for e in elts]
                return self._product([p for part in parts for p in (part, sep)][:-1])
            return hole
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.by_name \
                and node.func.id != "message" and node.func.id not in seen:
            builder = self.by_name[node.func.id]
            returns = [r.value for r in ast.walk(builder) if isinstance(r, ast.Return) and r.value is not None]
            return self._union([self.variants(r, builder, r.lineno, seen | {node.func.id}, whole) for r in returns])
        return hole

    def _union(self, groups: list[list]) -> list:
        out = [v for g in groups for v in g]
        return out[: self.MAX_VARIANTS] or [["\0"]]

    def _product(self, parts: list[list]) -> list:
        out = []
        for combo in itertools.islice(itertools.product(*parts), self.MAX_VARIANTS):
            if any(c is None for c in combo):
                out.append(None)
            else:
                out.append([p for c in combo for p in c])
        return out or [["\0"]]

    def keys(self, node: ast.AST, func: ast.AST | None, line: int) -> list[tuple[str | None, str | None]]:
        """``(key, name)`` for each possible text of a message expression."""
        if isinstance(node, ast.Name):
            values = self._assignments(func, node.id, line)
            if len(values) >= 1 and all(isinstance(v, ast.Call) for v in values):
                return [k for v in values for k in self.keys(v, func, line)]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.by_name \
                and node.func.id != "message":
            builder = self.by_name[node.func.id]
            returns = [r for r in ast.walk(builder) if isinstance(r, ast.Return) and r.value is not None]
            if any(isinstance(r.value, ast.Call) and _callee(r.value) == "message" for r in returns):
                return [k for r in returns for k in self.keys(r.value, builder, r.lineno)]
        if isinstance(node, ast.Call) and _callee(node) == "message" and len(node.args) > 1:
            name = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
            out = []
            for v in self.variants(node.args[1], func, line):
                pieces = None if v is None else "".join(v).split("\0")
                if pieces is not None and len(_norm("must be " + pieces[0])) >= MIN_KEY:
                    pieces = ["must be " + pieces[0]]
                out.append((_key(pieces), name))
            return out
        return [(None if v is None else _first_sentence_key("".join(v)), None)
                for v in self.variants(node, func, line)]

    def sites(self) -> list[Site]:
        out = []
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            kind = _callee(node)
            if kind == "warn":
                kind = "warning"
            elif kind == "write" and ast.unparse(node.func) == "sys.stderr.write" and self.rel == "r3d/cli.py":
                kind = "stderr"
            elif not kind.endswith(("Error", "Exception")) or kind in INTERNAL:
                continue
            qual, func = self.enclosing(node.lineno)
            seen = set()
            for key, name in self.keys(node.args[0], func, node.lineno):
                if (key, name) not in seen:
                    seen.add((key, name))
                    out.append(Site(self.rel, node.lineno, qual, kind, key, name))
        return out


def _key(pieces: list[str] | None) -> tuple[str, ...] | None:
    """The longest literal piece; if it is too short to identify anything, every piece."""
    if pieces is None:
        return None
    longest = max(pieces, key=len)
    if len(_norm(longest)) >= MIN_KEY:
        return (longest,)
    return tuple(p for p in pieces if _norm(p))


#: The end of a sentence: a full stop before a capital, a backtick or a quote ("e.g. 99" goes on).
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z`\"'])")


def _first_sentence_key(text: str) -> tuple[str, ...]:
    """The key of the first sentence (rows quote the message up to the part that varies, and
    give its advice in "What to do"), or of the whole text if the first says nothing literal."""
    key = _key(_SENTENCE_END.split(text, maxsplit=1)[0].split("\0"))
    return key if sum(len(_norm(k)) for k in key) >= MIN_KEY else _key(text.split("\0"))


def _norm(s: str) -> str:
    """Compare as prose: whitespace runs as one space, no backticks, any case."""
    return re.sub(r"\s+", " ", s.replace("`", "").replace("\\", "")).strip().lower()


def _norm_key(s: str) -> str:
    """A key as it may be quoted: without the punctuation that ends its sentence or opens the
    part that varies ("... (" before a placeholder)."""
    return _norm(s).rstrip(" .,:;(").strip()


def _blocks(doc: str) -> list[str]:
    """The rows of the page: each table line, and each paragraph or list item otherwise."""
    blocks, current = [], []
    for raw in doc.splitlines():
        line = raw.strip()
        if line.startswith("|") or not line or line.startswith("- "):
            if current:
                blocks.append(" ".join(current))
            current = []
            if line.startswith("|"):
                blocks.append(line)
                continue
        if line:
            current.append(line)
    if current:
        blocks.append(" ".join(current))
    return [_norm(b) for b in blocks]


def collect(root: Path, skip: tuple[str, ...] = SKIP) -> list[Site]:
    """Every message site of the package under ``root`` (its ``r3d/`` folder)."""
    out = []
    for path in sorted((root / "r3d").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(Path(rel).match(p) for p in skip):
            continue
        out.extend(_Module(rel, path.read_text()).sites())
    return out


def problems(sites: list[Site], doc: str, no_text: dict[tuple[str, str], str]) -> list[str]:
    """What is wrong: sites whose key the page lacks, textless sites not allowlisted, stale entries."""
    blocks = _blocks(doc)
    out, used = [], set()
    for s in sites:
        key = None if s.key is None else [_norm_key(k) for k in s.key]
        if key is None or sum(map(len, key)) < MIN_KEY:  # no text of its own: allowlisted, or a failure
            if (s.file, s.function) in no_text:
                used.add((s.file, s.function))
            elif key is None:
                out.append(f"{s}: the text is a parameter; follow it to its builder or add it to NO_TEXT")
            else:
                out.append(f"{s}: no literal of at least {MIN_KEY} characters identifies this message")
            continue
        rows = [b for b in blocks if all(k in b for k in key)]
        if not rows:
            out.append(f"{s}: not in docs/errors.md")
        elif s.name and not any(_norm(f"`{s.name}`") in b or f"{_norm(s.name)} must be" in b for b in rows):
            out.append(f"{s}: docs/errors.md has the text but no row of it names `{s.name}`")
    out += [f"NO_TEXT entry {entry} matches no site (remove it)" for entry in no_text if entry not in used]
    return out


SITES = collect(ROOT)


def test_every_message_is_in_errors_md():
    found = problems(SITES, DOC.read_text(), NO_TEXT)
    assert not found, f"{len(found)} of {len(SITES)} message sites:\n" + "\n".join(found)


def test_the_checker_sees_the_package():
    files = {s.file for s in SITES}
    assert len(SITES) > 200
    assert {"r3d/cli.py", "r3d/data.py", "r3d/backends/duckdb.py", "r3d/datasets.py"} <= files
    assert not any(Path(f).match("r3d/_ext/*_numpy.py") for f in files)


SYNTHETIC = '''
from r3d._validation import message, warn

HINT = "Pass a positive number of widgets."


def _width_text(w):
    return message("width", "a documented width", w)


def _label(which):
    return f"the {which} thing is bad: an undocumented builder message"


def check(x, w, which, text):
    if x < 0:
        raise ValueError(message("x", "a brand-new undocumented thing", x, HINT))
    if w < 0:
        raise ValueError(_width_text(w))
    if which:
        raise TypeError(_label(which))
    err = ValueError(f"widgets {x} overflowed in a documented way")
    if text:
        raise RuntimeError(text)
    warn(f"{x} widgets were dropped without a row in the docs")
    raise err


def varies(name):
    return ValueError(message("y", "documented for another argument", name))
'''

SYNTHETIC_DOC = '''
| Message | Cause | What to do |
|---|---|---|
| `` `width` must be a documented width `` | | |
| ``widgets ... overflowed in a documented way`` | | |
| `` `z` must be documented for another argument `` | | |
'''


def test_an_undocumented_message_is_reported(tmp_path):
    (tmp_path / "r3d").mkdir()
    (tmp_path / "r3d" / "widgets.py").write_text(textwrap.dedent(SYNTHETIC))
    sites = collect(tmp_path)
    found = "\n".join(problems(sites, SYNTHETIC_DOC, {("r3d/widgets.py", "gone"): "stale"}))
    assert "('must be a brand-new undocumented thing',)" in found
    assert "an undocumented builder message" in found  # followed into _label
    assert "without a row in the docs" in found  # a warning
    assert "(check) RuntimeError: None: the text is a parameter" in found
    assert "no row of it names `y`" in found  # the text is there, but for `z`
    assert "NO_TEXT entry ('r3d/widgets.py', 'gone') matches no site" in found
    assert "documented width" not in found and "documented way" not in found
    # documenting the missing ones and allowlisting the parameter clears every complaint
    doc = SYNTHETIC_DOC + textwrap.dedent('''
        | `` `x` must be a brand-new undocumented thing `` | | |
        | ``the ... thing is bad: an undocumented builder message`` | | |
        | `` `y` must be documented for another argument `` | | |

        **Warning**: "`k widgets were dropped without a row in the docs`".
        ''')
    assert problems(sites, doc, {("r3d/widgets.py", "check"): "synthetic"}) == []
