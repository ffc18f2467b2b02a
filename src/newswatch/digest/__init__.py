"""The digest: build it from the stored matches, render it, deliver it.

`build` builds the pure digest model (`model`) from the matches, with `sanitize` (safe
links and feed HTML), `highlight` (matched terms, snippets), `charts` (volume bars),
`feed_notes` (the health footer) and `headline` (subject, preheader); `render` gives its
HTML and text. `cluster` groups the same story from several feeds, `crosslang` links the
same event across languages, `timefmt` shows times in the digest's zone, `delivery` runs a
digest (plan the window, gather, render, write, send exactly once) and `mail` sends it by
SMTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newswatch._lazy import exports

if TYPE_CHECKING:
    from newswatch.digest.build import build_digest as build_digest
    from newswatch.digest.cluster import assign_clusters as assign_clusters
    from newswatch.digest.delivery import deliver as deliver
    from newswatch.digest.delivery import plan_window as plan_window
    from newswatch.digest.mail import SmtpSettings as SmtpSettings
    from newswatch.digest.mail import send_message as send_message
    from newswatch.digest.model import Digest as Digest
    from newswatch.digest.render import render_html as render_html
    from newswatch.digest.render import render_text as render_text

_API = {
    "Digest": "model",
    "SmtpSettings": "mail",
    "assign_clusters": "cluster",
    "build_digest": "build",
    "deliver": "delivery",
    "plan_window": "delivery",
    "render_html": "render",
    "render_text": "render",
    "send_message": "mail",
}
__all__ = sorted(_API)
__getattr__, __dir__ = exports(__name__, _API)
