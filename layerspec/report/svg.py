"""Make a Graphviz SVG safe to paste inline into the report.

The SVG comes from a run folder, which anyone can edit, so it is treated as untrusted: it is parsed as XML and
rebuilt keeping only drawing. Scripts, event handlers, foreign objects, links and any reference that leaves the
document (`href` that is not `#...`, `url(...)` that is not `url(#...)`) are dropped. Entities are decoded by the
XML parser before any check (`&#117;rl(` is `url(`); an attribute holding a backslash (a CSS escape such as
`\\75 rl(`) or calling any function but a local `url(#...)` or a transform is dropped. Element ids get a prefix
so that two diagrams in one comparison report cannot clash.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"

# Only drawing elements survive; everything else (script, foreignObject, image, style, a, use of files...) goes.
ALLOWED = {
    "svg", "g", "title", "desc", "path", "polygon", "polyline", "ellipse", "circle", "rect", "line", "text",
    "tspan", "defs", "linearGradient", "radialGradient", "stop", "clipPath", "marker",
}  # fmt: skip
# Graphviz wraps nodes that have a URL or tooltip in <a>; the drawing inside is kept, the link is not.
UNWRAP = {"a", "switch"}
ALLOWED_ATTRIBUTES = {
    "id", "class", "width", "height", "viewBox", "transform", "fill", "stroke", "stroke-width", "stroke-dasharray",
    "stroke-opacity", "fill-opacity", "opacity", "points", "d", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r",
    "rx", "ry", "font-family", "font-size", "font-weight", "font-style", "text-anchor", "dominant-baseline",
    "offset", "stop-color", "stop-opacity", "gradientUnits", "gradientTransform", "clip-path", "preserveAspectRatio",
    "markerWidth", "markerHeight", "refX", "refY", "orient", "text-decoration",
}  # fmt: skip
LOCAL_URL = re.compile(r"^\s*url\(\s*#[A-Za-z0-9_.:-]+\s*\)\s*$")
# The only functions a drawing attribute may call besides a local url(): transforms (transform,
# gradientTransform). Any other `name(` may be a way to fetch (url, image-set, src, ...), spelled or not.
TRANSFORM = re.compile(r"^[\sA-Za-z0-9.,+\-eE()]*$")
TRANSFORM_FUNCTIONS = {"matrix", "translate", "scale", "rotate", "skewX", "skewY"}


class SvgError(ValueError):
    """The file is not an SVG image."""


def sanitize_svg(text: str, id_prefix: str) -> str:
    """The drawing in `text` as an inline `<svg>` element; raises SvgError if it is not an SVG at all."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise SvgError(f"not well-formed XML: {exc}") from None
    if _local(root.tag) != "svg":
        raise SvgError(f"the root element is <{_local(root.tag)}>, not <svg>")
    clean = _copy(root, id_prefix)
    assert clean is not None
    # The page lays the diagram out: keep its aspect ratio from the viewBox, let CSS choose the size.
    # The drawing keeps its natural size (Graphviz gives it in points) and the page shrinks it to fit: CSS
    # `max-width: 100%; height: auto` needs the viewBox for the aspect ratio.
    width, height = root.get("width"), root.get("height")
    if "viewBox" not in clean.attrib and width and height:
        clean.set("viewBox", f"0 0 {_number(width)} {_number(height)}")
    clean.set("role", "img")
    ET.register_namespace("", SVG_NS)
    return ET.tostring(clean, encoding="unicode", short_empty_elements=True)


def _copy(element: ET.Element, prefix: str) -> ET.Element | None:
    tag = _local(element.tag)
    if tag not in ALLOWED:
        return None
    clean = ET.Element(f"{{{SVG_NS}}}{tag}")
    for name, value in element.attrib.items():
        kept = _attribute(_local(name), value, prefix)
        if kept is not None:
            clean.set(_local(name), kept)
    clean.text = element.text
    for child in _children(element):
        copied = _copy(child, prefix)
        if copied is not None:
            copied.tail = child.tail
            clean.append(copied)
    return clean


def _children(element: ET.Element) -> list[ET.Element]:
    """Child elements, with the contents of link wrappers lifted into their place."""
    out: list[ET.Element] = []
    for child in element:
        if _local(child.tag) in UNWRAP:
            out.extend(_children(child))
        else:
            out.append(child)
    return out


def _attribute(name: str, value: str, prefix: str) -> str | None:
    if name not in ALLOWED_ATTRIBUTES:
        return None  # event handlers (on*), href, style and anything unknown
    if name == "id":
        return f"{prefix}-{value}"
    if "\\" in value:
        # CSS escapes (`\75 rl(`, `u\rl(`) spell `url(` without the letters; Graphviz never writes a backslash.
        return None
    if "(" not in value:
        return value
    if LOCAL_URL.match(value):
        return value.replace("url(#", f"url(#{prefix}-", 1).replace("url( #", f"url(#{prefix}-", 1)
    if name in {"transform", "gradientTransform"} and _only_transforms(value):
        return value
    return None


def _only_transforms(value: str) -> bool:
    if not TRANSFORM.match(value):
        return False
    return all(call in TRANSFORM_FUNCTIONS for call in re.findall(r"([A-Za-z]+)\s*\(", value))


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _number(length: str) -> str:
    match = re.match(r"^\s*([0-9.]+)", length)
    return match.group(1) if match else "0"
