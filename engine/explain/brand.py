"""A consulting firm's name, logo and colour on the reports it hands to its customers (`--brand FILE`).

The brand file is YAML or JSON, checked against schemas/brand.schema.json like every input, with
errors located in it. The logo is read once, checked to be a PNG, JPEG or SVG image of at most
512 KiB, and embedded in the report as a data: address: the report loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from ..errors import BadInput, Location, Problem, visible
from ..io import shipped
from ..io.loader import control_problems, load_document, problems_sorted
from ..records import record

MAX_LOGO_BYTES = 512 * 1024
_IMAGE_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


@record
class Brand:
    firm: str
    contact: str | None = None
    accent: str | None = None
    logo: str | None = None  # a data: address holding the image


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(shipped.read_text(shipped.SCHEMAS, "brand.schema.json"))
    return schema


def load_brand(path: str) -> Brand:
    """Read and check a brand file; its logo is read relative to the brand file's folder."""
    from ..policy.schema_errors import schema_problems

    doc = load_document(path)
    if not isinstance(doc.value, dict):
        raise BadInput([Problem("wrong-type", "a brand file is a mapping (firm: ..., logo: ...)", doc.where(()))])
    problems = control_problems(doc) + schema_problems(doc, _schema())
    if problems:
        raise BadInput(problems_sorted(problems))
    value = doc.value
    logo = None
    if "logo" in value:
        logo = _logo(os.path.join(os.path.dirname(path) if path != "-" else "", value["logo"]), doc.where(("logo",)))
    return Brand(value["firm"], value.get("contact"), value.get("accent"), logo)


def _logo(path: str, where: Location) -> str:
    def problem(message: str) -> BadInput:
        return BadInput([Problem("bad-logo", f"logo {visible(path)}: {message}", where)])

    if os.path.exists(path) and not os.path.isfile(path):  # a folder, a FIFO or a device: never opened
        raise problem("not a regular file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_LOGO_BYTES + 1)
    except OSError as exc:
        raise problem(exc.strerror or "cannot be read") from None
    if len(data) > MAX_LOGO_BYTES:
        raise problem(f"larger than {MAX_LOGO_BYTES // 1024} KiB")
    mime = next((m for magic, m in _IMAGE_TYPES if data.startswith(magic)), None)
    if mime is None and _is_svg(data):
        mime = "image/svg+xml"
    if mime is None:
        raise problem("not a PNG, JPEG or SVG image")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _is_svg(data: bytes) -> bool:
    try:
        head = data[:4096].decode("utf-8").lstrip("\ufeff \t\r\n")
    except UnicodeDecodeError:
        return False
    return head.startswith("<svg") or (head.startswith("<?xml") and "<svg" in head)
