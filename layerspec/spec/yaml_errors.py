"""PyYAML's syntax errors in plain words: what is wrong, where, and how to fix it.

Works from what every loader gives (the pure-Python one and libyaml's C one word their problems differently): the
problem and context texts, their marks, and the document text itself, which shows what stands at the marks. A
failure not recognised here keeps a plain first line and PyYAML's own text as a note under it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from layerspec.errors import Diagnostic


@dataclass(frozen=True)
class _Failure:
    """One YAML failure with the text around it (marks 0-based, as PyYAML gives them)."""

    context: str
    problem: str
    row: int
    col: int
    context_line: int | None
    context_col: int | None
    lines: list[str]

    def line(self, index: int) -> str:
        """Line `index` (0-based), or '' past the end."""
        return self.lines[index] if 0 <= index < len(self.lines) else ""

    def at(self, line: int, col: int) -> str:
        """The character at (line, col), or '' past the end."""
        text = self.line(line)
        return text[col] if 0 <= col < len(text) else ""

    @property
    def char(self) -> str:
        return self.at(self.row, self.col)

    @property
    def text(self) -> str:
        return self.line(self.row)

    def has(self, *words: str) -> bool:
        both = f"{self.context} {self.problem}"
        return any(word in both for word in words)


# (line, col, message) with 0-based marks; None when the rule does not recognise the failure.
_Said = tuple[int, int, str]
_Rule = Callable[[_Failure], _Said | None]


def yaml_error_diagnostics(exc: yaml.MarkedYAMLError, text: str, filename: str) -> list[Diagnostic]:
    """The diagnostics for a YAML syntax error: one plain-words line, or a plain line and PyYAML's words."""
    failure = _failure(exc, text)
    for rule in _RULES:
        said = rule(failure)
        if said is not None:
            line, col, message = said
            return [Diagnostic(filename, line + 1, col + 1, message)]
    line, col = failure.row + 1, failure.col + 1
    original = "; ".join(part for part in (exc.problem, exc.context) if part) or "invalid YAML"
    return [
        Diagnostic(filename, line, col, "this is not valid YAML; check the line and the one above it"),
        Diagnostic(filename, line, col, f"PyYAML says: {original}", severity="note"),
    ]


def _failure(exc: yaml.MarkedYAMLError, text: str) -> _Failure:
    problem_mark = exc.problem_mark or exc.context_mark
    context_mark = exc.context_mark
    line, col = (problem_mark.line, problem_mark.column) if problem_mark else (0, 0)
    return _Failure(
        context=exc.context or "",
        problem=exc.problem or "",
        row=line,
        col=col,
        context_line=context_mark.line if context_mark else None,
        context_col=context_mark.column if context_mark else None,
        lines=_LINE_BREAK.split(text),
    )


# The line breaks PyYAML counts lines by, so that its marks index these lines.
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def _tab(f: _Failure) -> _Said | None:
    # The Python scanner stops at the tab itself; libyaml may stop at the start of the line holding it.
    if "\t" not in f.text[: f.col + 1] and not f.has("tab"):
        return None
    col = f.text.find("\t")
    return (
        f.row,
        max(col, 0),
        "a tab character: YAML indents with spaces only; replace the tab with spaces (two per level, as the "
        "lines above)",
    )


_TEMPLATE = re.compile(r"\$\{[^}\s]*\}?")


def _template_in_flow(f: _Failure) -> _Said | None:
    if "flow" not in f.context:
        return None
    start = f.col - 1 if f.char == "{" and f.at(f.row, f.col - 1) == "$" else f.col
    match = _TEMPLATE.match(f.text, start)
    if match is None:
        return None
    written = match.group(0)
    return (
        f.row,
        start,
        f"`{written}` inside `{{...}}` or `[...]` must be quoted: write '{written}' (unquoted, YAML reads `{{` as the "
        "start of a mapping)",
    )


def _unclosed_flow(f: _Failure) -> _Said | None:
    if "flow" not in f.context or f.context_line is None:
        return None
    opener, closer, what = ("[", "]", "list") if "sequence" in f.context else ("{", "}", "mapping")
    return (
        f.context_line,
        f.context_col or 0,
        f"the {what} `{opener}` opened here is not closed by line {f.row + 1}, column {f.col + 1}: add the missing "
        f"`{closer}`, or a `,` between two items",
    )


def _unclosed_quote(f: _Failure) -> _Said | None:
    if "quoted scalar" not in f.context or f.context_line is None:
        return None
    quote = f.at(f.context_line, f.context_col or 0) or '"'
    ending = "the end of the file" if "end of stream" in f.problem else f"line {f.row + 1}"
    return (
        f.context_line,
        f.context_col or 0,
        f"the quote {quote} opened here is not closed before {ending}: add the closing {quote} at the end of the value",
    )


def _missing_colon(f: _Failure) -> _Said | None:
    if "simple key" not in f.context or f.context_line is None:
        return None
    key = f.line(f.context_line)[f.context_col or 0 :].strip()
    return (
        f.context_line,
        f.context_col or 0,
        f"`{key}` is not followed by `:`: write `{key}:` (a key and its value are separated by a colon and a space)",
    )


def _colon_in_value(f: _Failure) -> _Said | None:
    if "mapping values are not allowed" not in f.problem:
        return None
    before = f.text[: f.col]
    if ": " in before:
        return (
            f.row,
            f.col,
            "a second `key:` on this line: put each `key: value` on its own line (indented under the key it belongs "
            "to), or quote a value that holds ': '",
        )
    previous = _previous_line(f, f.row)
    hint = f" (line {previous + 1} reads `{f.line(previous).strip()}`)" if previous is not None else ""
    return (
        f.row,
        f.col,
        f"a key indented under a plain value: is the `:` missing after the key on the line above{hint}?",
    )


def _second_document(f: _Failure) -> _Said | None:
    if "single document" not in f.context:
        return None
    return (
        f.row,
        f.col,
        "a second YAML document starts here (`---`): a spec is one document; remove this line and what follows, or "
        "put the second spec in a file of its own",
    )


def _undefined_alias(f: _Failure) -> _Said | None:
    if "undefined alias" not in f.problem:
        return None
    name = re.match(r"\*([^\s,\]}]*)", f.text[f.col :])
    alias = name.group(1) if name else "..."
    return (
        f.row,
        f.col,
        f"`*{alias}` refers to no anchor `&{alias}` defined above it: define the anchor first, or quote the value "
        "if the `*` is meant literally",
    )


def _bad_start(f: _Failure) -> _Said | None:
    if not f.has("cannot start any token", "node content") or f.char in ("", " "):
        return None
    word = f.text[f.col :].split(" #")[0].strip()
    return f.row, f.col, f"a plain value cannot start with `{f.char}`: quote it, as '{word}'"


# Characters that start a YAML construct when a plain value begins with them, by PyYAML's context words.
_SPECIAL = {
    "scanning an alias": ("*", "an alias (a reference to an `&anchor`)"),
    "scanning an anchor": ("&", "an anchor"),
    "block scalar": ("", "a block of text on the following lines"),
    "directive": ("%", "a directive"),
    "a tag": ("!", "a tag"),
}


def _special_start(f: _Failure) -> _Said | None:
    found = next((said for words, said in _SPECIAL.items() if words in f.context), None)
    if found is None or f.context_line is None:
        return None
    symbol, what = found
    symbol = symbol or f.at(f.context_line, f.context_col or 0)  # a block scalar: `|` or `>`
    return (
        f.context_line,
        f.context_col or 0,
        f"`{symbol}` at the start of a {'line' if symbol == '%' else 'value'} begins {what} in YAML: quote the value "
        "if it is meant as text",
    )


def _after_document(f: _Failure) -> _Said | None:
    if "document start" not in f.problem:
        return None
    previous = _previous_line(f, f.row)
    where = f" on line {previous + 1}" if previous is not None else ""
    return (
        f.row,
        f.col,
        f"nothing can follow the top-level value that ends{where}: a spec is one mapping of `key: value` lines "
        "(is this line indented wrongly, or is a `:` missing above?)",
    )


def _entry_after_key(f: _Failure) -> _Said | None:
    if "sequence entries are not allowed" not in f.problem:
        return None
    return (
        f.row,
        f.col,
        "a list item `- ` cannot follow a key on its line: start the list on the next line, indented, or write it as "
        "`[a, b]`",
    )


def _stray_closer(f: _Failure) -> _Said | None:
    if f.char not in ("]", "}") or "block" not in f.context:
        return None
    return f.row, f.col, f"`{f.char}` closes nothing: remove it, or add the `{'[' if f.char == ']' else '{'}` it ends"


def _after_quote(f: _Failure) -> _Said | None:
    if "block" not in f.context or f.at(f.row, f.col - 1) not in ("'", '"') or f.char in ("", " ", "#"):
        return None
    return f.row, f.col, "text right after a closing quote: put the whole value inside the quotes"


def _list_item_in_mapping(f: _Failure) -> _Said | None:
    if f.char != "-" or "block mapping" not in f.context:
        return None
    dashed = next((i for i in range(f.row) if re.match(r"^\s*-[^\s-]", f.line(i))), None)
    if dashed is not None:
        return (
            dashed,
            f.line(dashed).index("-"),
            f"`-` needs a space after it to start a list item: write `- {f.line(dashed).strip()[1:]}`",
        )
    return (
        f.row,
        f.col,
        "a list item `- ` where a key was expected: a list belongs under a key (`layers:`, then indented `- ...` "
        "lines)",
    )


def _key_in_list(f: _Failure) -> _Said | None:
    if "block collection" not in f.context or f.context_line is None:
        return None
    if f.char == "-" or f.col != (f.context_col or 0):
        return None
    return (
        f.row,
        f.col,
        f"a key where a list item was expected (the list started at line {f.context_line + 1}): start the entry "
        "with `- `, or indent the key under the item above",
    )


def _indentation(f: _Failure) -> _Said | None:
    if "block" not in f.context or not f.has("block end", "expected key", "indicator"):
        return None
    indent = len(f.text) - len(f.text.lstrip(" "))
    previous = _previous_line(f, f.row)
    if previous is None:
        return None
    above = len(f.line(previous)) - len(f.line(previous).lstrip(" "))
    return (
        f.row,
        f.col,
        f"this line is indented by {_spaces(indent)}, which lines up with no key or list item above (line "
        f"{previous + 1} is indented by {_spaces(above)}): indent it exactly like the keys it belongs with",
    )


def _spaces(count: int) -> str:
    return f"{count} space{'s' * (count != 1)}"


def _previous_line(f: _Failure, line: int) -> int | None:
    """The nearest line above `line` that holds something other than a comment."""
    for index in range(min(line, len(f.lines)) - 1, -1, -1):
        stripped = f.line(index).strip()
        if stripped and not stripped.startswith("#"):
            return index
    return None


# Most specific first: a tab or an unquoted `${...}` also makes the flow or block parser fail.
_RULES: tuple[_Rule, ...] = (
    _tab,
    _template_in_flow,
    _second_document,
    _undefined_alias,
    _unclosed_quote,
    _missing_colon,
    _colon_in_value,
    _unclosed_flow,
    _special_start,
    _after_document,
    _entry_after_key,
    _bad_start,
    _stray_closer,
    _after_quote,
    _list_item_in_mapping,
    _key_in_list,
    _indentation,
)
