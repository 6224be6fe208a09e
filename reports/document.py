"""A report as a list of blocks, written both as Markdown and as one self-contained static HTML page.

The HTML page has its style inline and links its figures by relative paths (PNG shown, SVG linked), so
the report folder opens from disk, can be zipped, or served as is.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #eee; margin-top: 2em; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 1em 0; }
table { border-collapse: collapse; font-size: 0.9em; }
td.text { max-width: 28em; overflow-wrap: anywhere; }
tr.best td { font-weight: 600; background: #eef6ee; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; }
td:first-child, th:first-child, td.text { text-align: left; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #444; }
.missing li { color: #8a4b00; }
code { background: #f4f4f4; padding: 0 3px; overflow-wrap: anywhere; }
p, li { overflow-wrap: anywhere; }
"""


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: 3 significant digits, '—' for NaN/None, '∞' for inf; text unchanged."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "—"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if number != 0 and (abs(number) >= 1e5 or abs(number) < 1e-3):
        return f"{number:.{digits - 1}e}"
    return f"{number:.{digits}g}"


@dataclasses.dataclass
class Document:
    """Blocks in order; ``to_markdown`` and ``to_html`` render the same content."""

    title: str
    blocks: list[tuple] = dataclasses.field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", level, text))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def bullets(self, items: Sequence[str], css_class: str = "") -> None:
        self.blocks.append(("list", list(items), css_class))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]],
              highlight: Sequence[int] = ()) -> None:
        """A table; ``highlight``: indices of rows to mark (the best row of a landscape)."""
        self.blocks.append(("table", list(header), [[fmt(v) for v in row] for row in rows],
                            tuple(highlight)))

    def figure(self, paths: dict[str, Path], caption: str, root: Path) -> None:
        """A saved figure; ``paths`` by format (png, svg), stored relative to the report folder."""
        relative = {fmt_: Path(p).relative_to(root).as_posix() for fmt_, p in paths.items()}
        self.blocks.append(("figure", relative, caption))

    # -- rendering ---------------------------------------------------------------------------------
    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out += [f"{'#' * block[1]} {block[2]}", ""]
            elif kind == "text":
                out += [block[1], ""]
            elif kind == "list":
                out += [f"- {item}" for item in block[1]] + [""]
            elif kind == "table":
                header, rows = block[1], block[2]
                escape = lambda s: str(s).replace("|", "\\|")  # noqa: E731
                out.append("| " + " | ".join(escape(h) for h in header) + " |")
                out.append("|" + "|".join("---" for _ in header) + "|")
                out += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
                out.append("")
            elif kind == "figure":
                paths, caption = block[1], block[2]
                image = paths.get("png") or next(iter(paths.values()))
                links = ", ".join(f"[{f.upper()}]({p})" for f, p in paths.items())
                out += [f"![{caption}]({image})", "", f"*{caption}* ({links})", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                anchor = "".join(c if c.isalnum() else "-" for c in block[2].lower())
                body.append(f'<h{block[1]} id="{e(anchor)}">{e(block[2])}</h{block[1]}>')
            elif kind == "text":
                body.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "list":
                css = f' class="{e(block[2])}"' if block[2] else ""
                body.append(f"<ul{css}>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{e(str(h))}</th>" for h in block[1])
                marked = block[3] if len(block) > 3 else ()
                rows = "".join(("<tr class=best>" if i in marked else "<tr>") + "".join(
                    f'<td{" class=text" if _is_text(c) else ""}>{e(str(c))}</td>' for c in row) + "</tr>"
                    for i, row in enumerate(block[2]))
                # a wide table scrolls inside its own box: the page never scrolls sideways
                body.append(f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
                            f"<tbody>{rows}</tbody></table></div>")
            elif kind == "figure":
                paths, caption = block[1], block[2]
                image = paths.get("png") or next(iter(paths.values()))
                target = paths.get("svg", image)
                links = " ".join(f'<a href="{e(p)}">{e(f.upper())}</a>' for f, p in paths.items())
                body.append(f'<figure><a href="{e(target)}"><img src="{e(image)}" alt="{e(caption)}"'
                            f' loading="lazy"></a><figcaption>{_inline(caption)} ({links})</figcaption>'
                            "</figure>")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{e(self.title)}</title><style>{CSS}</style></head><body>\n"
                + "\n".join(body) + "\n</body></html>\n")

    def write(self, out_dir: Path, stem: str) -> Path:
        """Write STEM.md and STEM.html into ``out_dir``; returns the HTML path."""
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{stem}.md").write_text(self.to_markdown(), encoding="utf-8")
        page = out_dir / f"{stem}.html"
        page.write_text(self.to_html(), encoding="utf-8")
        return page


def _is_text(cell: str) -> bool:
    try:
        float(str(cell).replace(",", "").replace("∞", "inf").replace("—", "nan").replace("−", "-"))
        return False
    except ValueError:
        return True


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code> and **strong** spans (outside code) into <strong>:
    the only Markdown the blocks use inline."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else _strong(p) for i, p in enumerate(parts))


def _strong(text: str) -> str:
    pieces = text.split("**")
    if len(pieces) % 2 == 0:  # an unpaired ** is text, as Markdown leaves it
        return text
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(pieces))
