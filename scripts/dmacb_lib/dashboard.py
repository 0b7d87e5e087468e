# SPDX-License-Identifier: GPL-2.0
"""dashboard: reports/<release>/index.html over every stage that ran.

One self-contained page (no external asset: the data is embedded as JSON,
the script and the charts are inline): per callback its shape, verdict and
reasons, the evidence in full (expandable), the providers that may run it,
its conversion (commit, patch text), verify's result per check and the
series it went into; the seed's claims; the providers; verify --matrix per
file and configuration; the parity of the two contract engines; charts of
shape and verdict per subsystem.

Every stage rewrites it after writing its own files, reading the stage
files through formats.py (a stage that has not run is simply absent).
Each file:line links to the source at the release: a URL template
(DMACB_SOURCE_URL; default Elixir at the release tag), or a local file://
view of the tree (DMACB_SOURCE_URL=local).  Deterministic: no timestamps.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections import Counter
from pathlib import Path

from . import claims, formats
from .vocab import GROUPS, MATRIX_RESULTS, SHAPES, subsystem

ELIXIR = "https://elixir.bootlin.com/linux/v{version}/source/{file}#L{line}"
COLORS = {
    "complete-only": "#4c9a2a", "irq-disabled": "#2a6f9a", "chained-tasklet": "#7a4ca0",
    "task-context": "#c08a1e", "hardirq-safe": "#3aa0a0", "left-alone": "#a0a0a0",
    "restarts-dma": "#b0413e", "other": "#808080",
}


def source_url(tree: Path | None) -> str:
    t = os.environ.get("DMACB_SOURCE_URL") or ELIXIR
    if t == "local":
        return (tree.as_uri() if tree else "file://") + "/{file}#L{line}"
    return t


def _load(rdir: Path, kind: str) -> dict | None:
    p = rdir / f"{kind}.json"
    if not p.exists():
        return None
    try:
        return formats.load(p, kind)
    except Exception:       # noqa: BLE001 -- a stale file of another stage: leave it out
        return None


def _bars(title: str, rows: dict[str, Counter], keys: tuple[str, ...]) -> str:
    """A stacked horizontal bar per subsystem, inline SVG."""
    width, left, h = 560, 110, 18
    total = max([sum(c.values()) for c in rows.values()] or [1])
    parts = [f'<svg class="chart" width="{left + width + 40}" height="{len(rows) * (h + 4) + 40}"'
             f' font-size="11" font-family="sans-serif"><text x="0" y="12" font-weight="bold">'
             f'{html.escape(title)}</text>']
    y = 22
    for sub, c in rows.items():
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{html.escape(sub)}'
                     f'</text>')
        x = left
        for k in keys:
            n = c.get(k, 0)
            if not n:
                continue
            w = max(1, int(width * n / total))
            parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" '
                         f'fill="{COLORS.get(k, "#999")}"><title>{html.escape(sub)}: {k} {n}'
                         f'</title></rect>')
            x += w
        parts.append(f'<text x="{x + 4}" y="{y + 13}">{sum(c.values())}</text>')
        y += h + 4
    legend = "".join(f'<span class="key" style="background:{COLORS.get(k, "#999")}"></span>'
                     f'{k} ' for k in keys)
    return "".join(parts) + "</svg>" + f'<div class="legend">{legend}</div>'


def _patches(rdir: Path, series: dict | None) -> dict[str, dict]:
    """driver commit -> {series, file, text} from series.json."""
    out: dict[str, dict] = {}
    if not series:
        return out
    for s in series.get("series", []):
        for p in s.get("patches", []):
            if p.get("commit"):
                path = rdir / "series" / s["label"] / p["file"]
                text = path.read_text(errors="replace") if path.exists() else ""
                out[p["commit"]] = {"series": s["label"], "file": p["file"], "text": text}
    return out


def build(rdir: Path, tree: Path | None = None) -> str:
    cbs_doc = _load(rdir, "callbacks")
    if cbs_doc is None:
        return ""
    cbs = cbs_doc["callbacks"]
    prov = _load(rdir, "providers")
    conv = _load(rdir, "convert")
    ver = _load(rdir, "verify")
    ser = _load(rdir, "series")
    par = None
    if (rdir / "parity.json").exists():
        par = json.loads((rdir / "parity.json").read_text())
    release = cbs_doc["kernel"]
    version = re.sub(r"[^0-9.].*$", "", release)

    conv_of: dict[tuple[str, str], dict] = {}
    for r in (conv or {}).get("callbacks", []):
        conv_of[(r["callback"], r.get("defined_in") or r["file"])] = r
    ver_of: dict[str, dict] = {}
    for d in (ver or {}).get("drivers", []):
        ver_of[d["commit"]] = d
    patch_of = _patches(rdir, ser)
    # providers/1 lists clients as [{file, basis, providers, ...}]
    serving = {s["file"]: s for s in (prov or {}).get("clients", [])}

    rows = []
    for c in cbs:
        key = (c["callback"], c["defined_in"] or c["file"])
        r = {"callback": c["callback"], "file": c["file"], "line": c["line"],
             "defined_in": c["defined_in"], "shape": c.get("shape", ""),
             "flags": c.get("shape_flags", []), "group": c["group"], "action": c["action"],
             "reasons": c["reasons"], "subsystem": subsystem(c["defined_in"] or c["file"]),
             "evidence": c.get("evidence", []), "note": c.get("note", ""),
             "users": c.get("users", [])}
        s = serving.get(c["defined_in"] or c["file"]) or serving.get(c["file"])
        if s:
            r["providers"] = s
        cr = conv_of.get(key)
        if cr:
            r["convert"] = {x: cr.get(x) for x in ("status", "kind", "reason", "commit",
                                                  "script")}
            v = ver_of.get(cr.get("commit") or "")
            if v:
                r["verify"] = {"verdict": v["verdict"], "reasons": v["reasons"],
                               "checks": {
                                   "rerun": v["checks"].get("rerun", {}),
                                   "checkpatch": v["checks"].get("checkpatch", {}).get("ok"),
                                   "build": {f: b.get("passed") for f, b in
                                             v["checks"].get("build", {}).items()},
                                   "configs": sorted({x for b in v["checks"].get(
                                       "build", {}).values() for x in b.get("configs") or []}),
                                   "checker": {f: e.get("ok") for f, e in
                                               v["checks"].get("checker", {}).items()},
                                   "matrix": {f: b["matrix"] for f, b in
                                              v["checks"].get("build", {}).items()
                                              if b.get("matrix")}}}
            p = patch_of.get(cr.get("commit") or "")
            if p:
                r["series"] = {"label": p["series"], "file": p["file"]}
                r["patch"] = p["text"]
        rows.append(r)

    by_sub_shape: dict[str, Counter] = {}
    by_sub_group: dict[str, Counter] = {}
    for r in rows:
        by_sub_shape.setdefault(r["subsystem"], Counter())[r["shape"]] += 1
        by_sub_group.setdefault(r["subsystem"], Counter())[r["group"]] += 1
    order = sorted(by_sub_shape, key=lambda s: -sum(by_sub_shape[s].values()))
    charts = (_bars("Shape per subsystem", {s: by_sub_shape[s] for s in order}, SHAPES) +
              _bars("Verdict (group) per subsystem", {s: by_sub_group[s] for s in order},
                    GROUPS))
    data = {"release": release, "version": version, "url": source_url(tree),
            "matrix": matrix_rows(ver),
            "rows": rows, "claims": claims.answer(cbs),
            "providers": (prov or {}).get("providers", []),
            "series": (ser or {}).get("series", []),
            "parity": (par or {}).get("rows", []),
            "stages": {"audit": True, "providers": prov is not None, "convert": conv is not None,
                       "verify": ver is not None, "series": ser is not None,
                       "parity": par is not None},
            "counts": {"shape": Counter(r["shape"] for r in rows),
                       "group": Counter(r["group"] for r in rows),
                       "action": Counter(r["action"] for r in rows)}}
    blob = json.dumps(data, sort_keys=True).replace("</", "<\\/")
    title = f"dmacb: dmaengine client callbacks in Linux {html.escape(release)}"
    return PAGE.replace("@TITLE@", title).replace("@CHARTS@", charts).replace("@DATA@", blob)


def matrix_rows(ver: dict | None) -> dict:
    """verify --matrix as the Matrix tab's table: a row per file, a column
    per configuration (the short forms of verify.md), and the count of
    files each configuration built."""
    cols = (ver or {}).get("matrix") or []
    rows, built = [], {c: 0 for c in cols}
    for d in (ver or {}).get("drivers", []) if cols else []:
        for f in d["files"]:
            m = d["checks"]["build"][f].get("matrix") or {}
            row = {"file": f, "verdict": d["verdict"]}
            for c in cols:
                row[c] = MATRIX_RESULTS.get(m.get(c, ""), ".")
                built[c] += c in m
            row["configs"] = len(m)
            rows.append(row)
    if rows:
        rows.append({"file": "files built", "verdict": "",
                     **{c: built[c] for c in cols}, "configs": ""})
    return {"configs": cols, "rows": rows}


def write(rdir: Path, tree: Path | None = None) -> None:
    text = build(rdir, tree)
    if text:
        tmp = rdir / "index.html.tmp"
        tmp.write_text(text)
        tmp.replace(rdir / "index.html")


# The page style, shared with the diff page (diffpage.py).
STYLE = r"""body { font-family: sans-serif; margin: 1.2em; }
nav button { font-size: 14px; padding: 4px 10px; margin-right: 4px; }
nav button.on { background: #333; color: #fff; }
table { border-collapse: collapse; font-size: 12px; }
td, th { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; }
th { background: #eee; }
tr.cb { cursor: pointer; }
td.f { word-break: break-all; max-width: 16em; font-size: 11px; }
tr.detail td { background: #fafafa; }
pre { font-size: 11px; max-height: 30em; overflow: auto; background: #f4f4f4; padding: 6px; }
.key { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 10px; }
.legend { font-size: 11px; margin-bottom: 1em; }
.tab { display: none; } .tab.on { display: block; }
.muted { color: #777; }
"""

PAGE = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<title>@TITLE@</title>
<style>
""" + STYLE + r"""</style></head><body>
<h1>@TITLE@</h1>
<p id="summary"></p>
<nav><button data-tab="callbacks" class="on">Callbacks</button><button data-tab="claims">The
seed's claims</button><button data-tab="providers">Providers</button><button
data-tab="series">Series</button><button data-tab="matrix">Matrix</button><button
data-tab="parity">Parity</button><button
data-tab="charts">Charts</button></nav>
<div id="callbacks" class="tab on">
<p>Shape <select id="f-shape"><option value="">all</option></select>
Verdict <select id="f-group"><option value="">all</option></select>
Action <select id="f-action"><option value="">all</option></select>
Subsystem <select id="f-sub"><option value="">all</option></select>
Search <input id="f-q" size="24"> <span id="shown"></span>
<span class="muted">(click a row for the evidence, the patch and verify's checks)</span></p>
<table id="t"><thead><tr><th>assigned at</th><th>callback</th><th>defined in</th>
<th>shape</th><th>verdict</th><th>action</th><th>reasons</th><th>providers</th>
<th>conversion</th><th>verify</th><th>series</th></tr></thead><tbody></tbody></table>
</div>
<div id="claims" class="tab"></div>
<div id="providers" class="tab"></div>
<div id="series" class="tab"></div>
<div id="matrix" class="tab"></div>
<div id="parity" class="tab"></div>
<div id="charts" class="tab">@CHARTS@</div>
<script type="application/json" id="data">@DATA@</script>
<script>
var D = JSON.parse(document.getElementById('data').textContent);
function esc(s) { return String(s == null ? '' : s).replace(/[&<>"]/g, function (c) {
  return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]; }); }
function src(file, line) {
  var u = D.url.replace('{version}', D.version).replace('{file}', file).replace('{line}', line);
  return '<a class="src" href="' + esc(u) + '">' + esc(file) + ':' + esc(line) + '</a>';
}
function opts(id, vals) {
  var s = document.getElementById(id);
  vals.forEach(function (v) { var o = document.createElement('option'); o.value = v;
    o.textContent = v; s.appendChild(o); });
}
function uniq(k) { var m = {}; D.rows.forEach(function (r) { m[r[k]] = 1; });
  return Object.keys(m).sort(); }
opts('f-shape', uniq('shape')); opts('f-group', uniq('group')); opts('f-action', uniq('action'));
opts('f-sub', uniq('subsystem'));
var st = D.stages, c = D.counts;
document.getElementById('summary').innerHTML = D.rows.length + ' callbacks. Stages: ' +
  Object.keys(st).filter(function (k) { return st[k]; }).join(', ') + '. Actions: ' +
  Object.keys(c.action).sort().map(function (k) { return k + ' ' + c.action[k]; }).join(', ');
function detail(r) {
  var h = '<b>Evidence</b><ul>';
  r.evidence.forEach(function (e) {
    h += '<li>' + esc(e.reason || e.effect) + ': ' + esc(e.call) + '() at ' +
      src(e.file, e.line) + ' via ' + esc(e.via) + (e.detail ? ' &mdash; ' + esc(e.detail) : '') +
      '</li>'; });
  h += '</ul>';
  if (r.note) h += '<p>' + esc(r.note) + '</p>';
  if (r.users.length) h += '<p>Users: ' + r.users.map(esc).join(', ') + '</p>';
  if (r.providers) h += '<p><b>Providers</b>: ' + esc(JSON.stringify(r.providers)) + '</p>';
  if (r.convert) h += '<p><b>Conversion</b>: ' + esc(r.convert.status) +
    (r.convert.commit ? ' ' + esc(r.convert.commit) : '') +
    (r.convert.reason ? ' &mdash; ' + esc(r.convert.kind) + ': ' + esc(r.convert.reason) : '') + '</p>';
  if (r.verify) {
    var k = r.verify.checks;
    h += '<p><b>Verify</b>: ' + esc(r.verify.verdict) + '; rerun ' + esc(JSON.stringify(k.rerun)) +
      '; checkpatch ' + (k.checkpatch ? 'ok' : 'FAIL') + '; build ' + esc(JSON.stringify(k.build)) +
      ' on ' + esc(k.configs.join('; ')) + '; checker ' + esc(JSON.stringify(k.checker)) +
      (Object.keys(k.matrix || {}).length ? '; matrix ' + esc(JSON.stringify(k.matrix)) : '') +
      (r.verify.reasons.length ? '<br>' + r.verify.reasons.map(esc).join('<br>') : '') + '</p>';
  }
  if (r.patch) h += '<p><b>Patch</b> (' + esc(r.series.label + '/' + r.series.file) + ')</p><pre>' +
    esc(r.patch) + '</pre>';
  return h;
}
var tb = document.querySelector('#t tbody');
D.rows.forEach(function (r, i) {
  var tr = document.createElement('tr');
  tr.className = 'cb';
  tr.dataset.i = i;
  tr.innerHTML = '<td class="f">' + src(r.file, r.line) + '</td><td><code>' + esc(r.callback) +
    '</code></td><td class="f">' + esc(r.defined_in) + '</td><td>' + esc(r.shape) +
    (r.flags.length ? '<br><span class="muted">' + esc(r.flags.join(', ')) + '</span>' : '') +
    '</td><td>' + esc(r.group) + '</td><td>' + esc(r.action) + '</td><td>' +
    esc(r.reasons.join(', ')) + '</td><td>' + (r.providers ? esc((r.providers.providers || ['any']).join(', ')) : '') +
    '</td><td>' + (r.convert ? esc(r.convert.status) : '') + '</td><td>' +
    (r.verify ? esc(r.verify.verdict) : '') + '</td><td>' + (r.series ? esc(r.series.label) : '') +
    '</td>';
  tr.addEventListener('click', function () {
    var n = tr.nextSibling;
    if (n && n.className === 'detail') { n.remove(); return; }
    var d = document.createElement('tr'); d.className = 'detail';
    d.innerHTML = '<td colspan="11">' + detail(r) + '</td>';
    tr.parentNode.insertBefore(d, tr.nextSibling);
  });
  tb.appendChild(tr);
});
function filter() {
  var f = {shape: val('f-shape'), group: val('f-group'), action: val('f-action'),
           subsystem: val('f-sub')}, q = val('f-q').toLowerCase(), n = 0;
  document.querySelectorAll('#t tbody tr.detail').forEach(function (d) { d.remove(); });
  document.querySelectorAll('#t tbody tr.cb').forEach(function (tr) {
    var r = D.rows[tr.dataset.i], ok = true;
    Object.keys(f).forEach(function (k) { if (f[k] && r[k] !== f[k]) ok = false; });
    if (q && tr.textContent.toLowerCase().indexOf(q) < 0) ok = false;
    tr.style.display = ok ? '' : 'none';
    n += ok;
  });
  document.getElementById('shown').textContent = n + ' shown';
}
function val(id) { return document.getElementById(id).value; }
['f-shape', 'f-group', 'f-action', 'f-sub'].forEach(function (id) {
  document.getElementById(id).addEventListener('change', filter); });
document.getElementById('f-q').addEventListener('input', filter);
/* filters from the address: index.html#shape=complete-only&group=left-alone */
location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
  var p = kv.split('='), id = {shape: 'f-shape', group: 'f-group', action: 'f-action',
    subsystem: 'f-sub', q: 'f-q'}[p[0]];
  if (id && p.length > 1) document.getElementById(id).value = decodeURIComponent(p[1]);
});
filter();
document.querySelectorAll('nav button').forEach(function (b) {
  b.addEventListener('click', function () {
    document.querySelectorAll('nav button, .tab').forEach(function (x) { x.classList.remove('on'); });
    b.classList.add('on'); document.getElementById(b.dataset.tab).classList.add('on'); });
});
var ch = '';
D.claims.claims.forEach(function (c) {
  ch += '<h3>' + c.id + '. &ldquo;' + esc(c.quote) + '&rdquo;</h3><p>' + esc(c.answer) +
    '</p><details><summary>' + c.strict + ' ' + esc(c.shape) + (c.near_count ? ', ' + c.near_count +
    ' ' + esc(c.near_flag) : '') + '</summary><ul>' + c.strict_list.map(function (x) {
      return '<li>' + esc(x) + '</li>'; }).join('') + '</ul>' + (c.near_list && c.near_list.length ?
    '<p>Near cases:</p><ul>' + c.near_list.map(function (x) { return '<li>' + esc(x) + '</li>'; }).join('') +
    '</ul>' : '') + '</details>';
});
document.getElementById('claims').innerHTML = ch;
function table(id, rows, cols, empty) {
  var el = document.getElementById(id);
  if (!rows.length) { el.innerHTML = '<p>' + empty + '</p>'; return; }
  el.innerHTML = '<table><thead><tr>' + cols.map(function (c) { return '<th>' + esc(c) + '</th>'; }).join('') +
    '</tr></thead><tbody>' + rows.map(function (r) { return '<tr>' + cols.map(function (c) {
      var v = r[c]; return '<td>' + esc(typeof v === 'object' ? JSON.stringify(v) : v) + '</td>'; }).join('') +
      '</tr>'; }).join('') + '</tbody></table>';
}
table('providers', D.providers, D.providers.length ? Object.keys(D.providers[0]) : [],
      'The providers audit has not run for this tree.');
table('series', D.series, ['label', 'to', 'patches'], 'No series yet (make series).');
table('matrix', D.matrix.rows, ['file', 'verdict'].concat(D.matrix.configs, ['configs']),
      'No configuration matrix: verify ran without --matrix (or --hosts), one configuration ' +
      'per file (the verify column of each callback says which).');
if (D.matrix.rows.length) document.getElementById('matrix').insertAdjacentHTML('afterbegin',
  '<p>Each converted file in every configuration that builds it. ok: builds, no new ' +
  'diagnostic; ok*: base and converted fail alike; ok-: none of the changed lines in this ' +
  'configuration; WARN: new diagnostics; FAIL: does not build; .: not built there.</p>');
table('parity', D.parity, ['file', 'function', 'audit', 'checker', 'explained', 'unexplained'],
      'No parity run yet (dmacb parity, after verify).');
</script>
</body></html>
"""
