"""HTML escaped by default: what the report and the web app build their pages from.

A page is put together from HTML values (markupsafe's Markup): every other value that goes into one,
by format, +, or join, is escaped on the way in, so a customer's text can reach a page only as text.
The few fragments that are already HTML (this code's own tags, the style sheets) are marked HTML
where they are written.

HTML escapes as html.escape does (quotes as &quot; and &#x27;) rather than as markupsafe's own escape
(&#34; and &#39;): the same text in the browser, and the same bytes as the pages have always had.
"""

from __future__ import annotations

import html
from typing import Any, Self

from markupsafe import Markup


class HTML(Markup):
    """A fragment of HTML; what is combined with it is escaped, unless it is HTML already."""

    __slots__ = ()

    @classmethod
    def escape(cls, s: Any, /) -> Self:
        if hasattr(s, "__html__"):
            return cls(s.__html__())
        return cls(html.escape(str(s), quote=True))


def escape(value: object) -> HTML:
    """value as text in HTML: markup characters and quotes escaped (as html.escape does), HTML left as it is."""
    return HTML.escape(value)
