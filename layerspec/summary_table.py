"""Text rendering of a model summary, in the style of Keras's `model.summary()` plus MACs and shares."""

from __future__ import annotations

from layerspec.layers import format_shape
from layerspec.receptive import ReceptiveField
from layerspec.shapes import ModelSummary


def _share(part: int, total: int) -> str:
    return f"{100 * part / total:.1f}%" if total else "-"


def _human(count: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.2f} {unit}"
    return str(count)


def field_cell(field: ReceptiveField) -> str:
    """`7x7 /2`: the receptive field and the effective stride; `all`, `-` or `?` without numbers."""
    stride = field.stride_label()
    return f"{field.label()} /{stride}" if stride else field.label()


def _cell(cells: dict[ReceptiveField, str], field: ReceptiveField) -> str:
    return cells.get(field) or cells.setdefault(field, field_cell(field))


def render_summary(summary: ModelSummary, *, shares: bool = False) -> str:
    """A fixed-width table of every layer and the totals."""
    headers = ["Layer (type)", "Output Shape", "Param #", "MACs"]
    if shares:
        headers += ["% params", "% MACs"]
    headers.append("Field /stride")
    # Most layers of a large model share a few shapes and fields: each cell text is made once.
    shapes: dict[tuple[int | None, ...], str] = {}
    cells: dict[ReceptiveField, str] = {}
    numbers: dict[int, str] = {}
    layers = summary.layers
    columns: list[list[str]] = [
        [f"{r.name} ({r.type})" for r in layers],
        [shapes.get(s) or shapes.setdefault(s, format_shape((None, *s))) for s in (r.output_shape for r in layers)],
        [numbers.get(n) or numbers.setdefault(n, f"{n:,}") for n in (r.params for r in layers)],
        [numbers.get(n) or numbers.setdefault(n, f"{n:,}") for n in (r.macs for r in layers)],
    ]
    if shares:
        columns.append([_share(r.params, summary.params) for r in layers])
        columns.append([_share(r.macs, summary.macs) for r in layers])
    # Keyed by identity first: most records share one field object (NONE, or the field a chain passes on), and a
    # frozen dataclass's hash is a Python call per row; equal fields that are distinct objects share a cell text.
    by_id: dict[int, str] = {}
    columns.append([by_id.get(id(f)) or by_id.setdefault(id(f), _cell(cells, f)) for f in (r.field for r in layers)])
    widths = [max(len(h), *map(len, column)) for h, column in zip(headers, columns, strict=True)]
    total_width = sum(widths) + 3 * (len(widths) - 1)

    # One format for every row (the first two columns left-aligned, the figures right-aligned): a large spec's
    # table has tens of thousands of rows, each formatted by one call and written column by column.
    aligns = ["<", "<", *(">" * (len(widths) - 2))]
    template = "   ".join(f"{{:{a}{w}}}" for a, w in zip(aligns, widths, strict=True))

    def line(row: list[str]) -> str:
        return template.format(*row).rstrip()

    out = [f'Model: "{summary.name}"', "━" * total_width, line(headers), "━" * total_width]
    # The last column is right-aligned, so a row ends in spaces only where its last cell is empty or ends in one.
    if all(cell and not cell[-1].isspace() for cell in cells.values()):
        out += map(template.format, *columns)
    else:
        out += [line(list(row)) for row in zip(*columns, strict=True)]
    out += [
        "━" * total_width,
        f" Total params: {summary.params:,} ({_bytes(summary.params)})",
        f" Trainable params: {summary.trainable_params:,} ({_bytes(summary.trainable_params)})",
        f" Non-trainable params: {summary.non_trainable_params:,} ({_bytes(summary.non_trainable_params)})",
        f" Total MACs: {summary.macs:,} ({_human(summary.macs)} per example)",
    ]
    return "\n".join(out) + "\n"


def _bytes(params: int) -> str:
    size = params * 4.0
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} TB"
