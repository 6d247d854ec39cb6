"""Assembling the self-contained HTML page: inline CSS, figures as base64 PNG, no scripts, no links out."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inscl.report.tables import Table

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td{font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
.note{color:#777;font-style:italic}.meta{color:#555;font-size:.9em}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em;max-height:30em}
nav a{margin-right:.8em}
"""


@dataclass
class Section:
    """One part of the page: an anchor id, a heading and already-rendered HTML."""

    anchor: str
    title: str
    body: str


def figure_html(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def note_html(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def tables_html(tables: Sequence[Table]) -> str:
    return "".join(t.to_html() for t in tables)


def pre_html(obj: Any) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True)
    return f"<pre>{html.escape(text)}</pre>"


def render_page(title: str, meta: str, sections: Sequence[Section]) -> str:
    """The whole page; every resource is inline, so it opens offline from a single file."""
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{s.body}</section>'
                   for s in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<link rel=\"icon\" href=\"data:,\">"  # no favicon request, even from a server
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"meta\">{html.escape(meta)}</p><nav>{nav}</nav>"
            f"{body}</body></html>\n")
