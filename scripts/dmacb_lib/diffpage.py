# SPDX-License-Identifier: GPL-2.0
"""diffpage: diff.html, the page of `dmacb diff`, in the dashboard's style.

One self-contained page built from the diff document alone (reldiff.build):
the counts, then a tab per list (callbacks appeared, disappeared, moved,
changed, other changes; providers), each row with the fields and the
evidence that changed.  Static HTML (the tabs are the only script) with
the dashboard's style sheet (dashboard.STYLE); file names link to the
source of their release (DMACB_SOURCE_URL, as the dashboard).
A tab can be opened from the address (diff.html#changed).  Deterministic:
no timestamps.
"""

from __future__ import annotations

import html
import re

from .dashboard import STYLE, source_url
from .reldiff import text_of


def _e(s) -> str:
    return html.escape(text_of(s))


class _Src:
    def __init__(self, old: str, new: str):
        self.url = source_url(None)
        self.ver = {"old": re.sub(r"[^0-9.].*$", "", old), "new": re.sub(r"[^0-9.].*$", "", new)}

    def link(self, side: str, file: str, line: int | None = None) -> str:
        if not file:
            return "-"
        u = self.url.replace("{version}", self.ver[side]).replace("{file}", file).replace(
            "{line}", str(line or 1))
        text = f"{file}:{line}" if line else file
        return f'<a class="src" href="{html.escape(u)}">{html.escape(text)}</a>'


def _table(head: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{html.escape(empty)}</p>'
    return ("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) +
            "</tr></thead><tbody>" + "".join(
                "<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows) +
            "</tbody></table>")


def _changes(m: dict, provider: bool = False) -> str:
    items = []
    for k, v in m["fields"].items():
        if k == "providers" and not provider:
            items.append("<li>providers that may serve it: " + _e(
                [f"+{x}" for x in m["providers_added"]] +
                [f"-{x}" for x in m["providers_removed"]]) + "</li>")
        else:
            items.append(f"<li>{_e(k)}: {_e(v['old'])} &rarr; {_e(v['new'])}</li>")
    if provider:
        for k, v in m["why"].items():
            items += [f"<li>{_e(k)} gone: <code>{_e(x)}</code></li>" for x in v["removed"]]
            items += [f"<li>{_e(k)} new: <code>{_e(x)}</code></li>" for x in v["added"]]
    else:
        items += [f"<li>evidence gone: <code>{_e(x)}</code></li>" for x in m["evidence_removed"]]
        items += [f"<li>evidence new: <code>{_e(x)}</code></li>" for x in m["evidence_added"]]
    if m.get("unexplained"):
        items.append('<li class="muted">no reason or evidence entry changed: the reports do '
                     'not say why (compare the source)</li>')
    return "<ul>" + "".join(items) + "</ul>" if items else "-"


def _name(m: dict) -> str:
    if m["callback"] == m["old_callback"]:
        return f"<code>{_e(m['callback'])}</code>"
    return f"<code>{_e(m['old_callback'])}</code> &rarr; <code>{_e(m['callback'])}</code>"


def build(doc: dict) -> str:
    o, n = doc["old"], doc["new"]
    cb, pv = doc["callbacks"], doc["providers"]
    src = _Src(o["kernel"], n["kernel"])
    cc, pc = doc["counts"]["callbacks"], doc["counts"]["providers"]

    summary = _table(["", o["kernel"], n["kernel"]],
                     [["callbacks", _e(o["callbacks"]), _e(n["callbacks"])],
                      ["providers", _e(o["providers"]), _e(n["providers"])]] +
                     [[_e(f"{kind} {k}"), _e(o["counts"][kind][k]), _e(n["counts"][kind][k])]
                      for kind in ("group", "action") for k in o["counts"][kind]
                      if o["counts"][kind][k] or n["counts"][kind][k]], "")
    counts = _table(["", "callbacks", "providers"],
                    [[_e(k.replace("_", " ")), _e(cc[k]), _e(pc[k] if pv["compared"] else "-")]
                     for k in ("appeared", "disappeared", "moved", "changed", "details_changed",
                               "unchanged")], "")

    def row_new(c):
        return [f"<code>{_e(c['callback'])}</code>", src.link("new", c["file"], c["line"]),
                _e(c["defined_in"]), _e(c["shape"]), _e(c["group"]), _e(c["action"]),
                _e(c["reasons"])]

    def row_old(c):
        return [f"<code>{_e(c['callback'])}</code>", src.link("old", c["file"], c["line"]),
                _e(c["defined_in"]), _e(c["group"]), _e(c["action"]), _e(c["hint"])]

    def row_moved(m):
        return [_name(m), _e(m["match"]), src.link("old", m["old_defined_in"]),
                src.link("new", m["defined_in"]), _e(m["match_evidence"]),
                _e("yes" if m["verdict_changed"] else "no")]

    def row_changed(m):
        return [_name(m), src.link("new", m["new"]["file"], m["new"]["line"]),
                _e(f"{m['old']['group']}/{m['old']['action']}"),
                _e(f"{m['new']['group']}/{m['new']['action']}"), _changes(m)]

    tabs = [
        ("appeared", f"Appeared ({cc['appeared']})", _table(
            ["callback", "assigned at", "defined in", "shape", "verdict", "action", "reasons"],
            [row_new(c) for c in cb["appeared"]], "No callback appeared.")),
        ("disappeared", f"Disappeared ({cc['disappeared']})", _table(
            ["callback", "assigned at (old)", "defined in", "verdict", "action",
             "where its file is now"], [row_old(c) for c in cb["disappeared"]],
            "No callback disappeared.")),
        ("moved", f"Moved ({cc['moved']})", _table(
            ["callback", "rule", "old file", "new file", "evidence of the match",
             "verdict changed"], [row_moved(m) for m in cb["moved"]],
            "No callback moved or was renamed.")),
        ("changed", f"Changed ({cc['changed']})", _table(
            ["callback", "assigned at", "old verdict", "new verdict", "what changed"],
            [row_changed(m) for m in cb["changed"]],
            "No callback changed its shape, verdict or action.")),
        ("details", f"Other changes ({cc['details_changed']})", _table(
            ["callback", "assigned at", "old verdict", "new verdict", "what changed"],
            [row_changed(m) for m in cb["details_changed"]],
            "No other change.")),
    ]
    if pv["compared"]:
        prow = [[f"<code>{_e(p['id'])}</code>", "appeared", _e(p["delivery"]),
                 _e(p["bare_completion"]), "-"] for p in pv["appeared"]]
        prow += [[f"<code>{_e(p['id'])}</code>", "disappeared", _e(p["delivery"]),
                  _e(p["bare_completion"]), "-"] for p in pv["disappeared"]]
        seen = set()
        for m in pv["moved"] + pv["changed"] + pv["details_changed"]:
            if m["id"] in seen:
                continue
            seen.add(m["id"])
            what = m["match"] if m["match"] == "same" else \
                f"{m['match']} from <code>{_e(m['old_id'])}</code>"
            prow.append([f"<code>{_e(m['id'])}</code>", what, _e(m["new"]["delivery"]),
                         _e(m["new"]["bare_completion"]), _changes(m, provider=True)])
        ptab = _table(["provider", "", "delivery", "bare completion", "what changed"], prow,
                      "No provider changed.")
        plabel = f"Providers ({len(prow)})"
    else:
        ptab = f'<p class="muted">Providers not compared: {_e(pv["note"])}.</p>'
        plabel = "Providers (not compared)"
    tabs.append(("providers", plabel, ptab))

    title = f"dmacb diff: Linux {html.escape(o['kernel'])} &rarr; {html.escape(n['kernel'])}"
    nav = "".join(f'<button data-tab="{t}"{" class=on" if i == 0 else ""}>{html.escape(lab)}'
                  f'</button>' for i, (t, lab, _) in enumerate(tabs))
    body = "".join(f'<div id="tab-{t}" class="tab{" on" if i == 0 else ""}">{content}</div>'
                   for i, (t, _, content) in enumerate(tabs))
    return (PAGE.replace("@STYLE@", STYLE).replace("@TITLE@", title)
            .replace("@SUMMARY@", summary + counts).replace("@NAV@", nav)
            .replace("@TABS@", body))


PAGE = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<title>@TITLE@</title>
<style>
@STYLE@#summary table { display: inline-table; margin: 0 1.5em 1em 0; vertical-align: top; }
</style></head><body>
<h1>@TITLE@</h1>
<p class="muted">What changed between two releases' dmacb reports (dmacb diff).  Line
numbers are not compared; evidence is shown without them.</p>
<div id="summary">@SUMMARY@</div>
<nav>@NAV@</nav>
@TABS@
<script>
function show(tab) {
  document.querySelectorAll('nav button, .tab').forEach(function (x) { x.classList.remove('on'); });
  document.querySelector('nav button[data-tab="' + tab + '"]').classList.add('on');
  document.getElementById('tab-' + tab).classList.add('on');
}
document.querySelectorAll('nav button').forEach(function (b) {
  b.addEventListener('click', function () { show(b.dataset.tab); });
});
/* a tab from the address: diff.html#changed */
var h = location.hash.replace(/^#/, '');
if (h && document.querySelector('nav button[data-tab="' + h + '"]')) show(h);
</script>
</body></html>
"""
