"""The HTML report (`--format html`): one self-contained file a person opens in a browser.

One page, nothing fetched: the style and the script are inline, the severity chart is
inline SVG, there are no fonts, images or links to load. A Content-Security-Policy in the
page allows only that style and that script (by their SHA-256 hashes) and nothing else,
so even text that somehow escaped escaping could neither run nor load anything.

Every finding is a table row written here, in Python; the script only sorts and filters
rows that are already in the page (it holds no report data), so the table reads the same
with scripts off and no report text is ever placed inside a `<script>`. The report is
made safe first (`report.safe`: control characters, bidi overrides and lone surrogates
shown escaped); every insertion point then goes through `html.escape` (quotes included),
and a reference becomes a link only when it is a plain http(s) URL.

The page reads its state from the address's fragment and writes it back, so a view can
be shared and tested: `#filter=DW201&sev=critical,high&sort=target&dir=asc`.

Written by hand with `html.escape` rather than a template engine: the page is a few
tables, and string building keeps the escaping visible at each insertion point without
adding a dependency.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from html import escape
from typing import Any

from dockwarden import __version__
from dockwarden.model.common import Severity
from dockwarden.model.finding import Finding, Report
from dockwarden.report import counts, natural_key, place, safe

# An evidence value longer than this is cut in the page (the JSON report has it whole).
EVIDENCE_LIMIT = 2000

_URL = re.compile(r"https?://[^\s<>\"'`]+")


def _e(value: object) -> str:
    """Text for an element's content or a quoted attribute value."""
    return escape(str(value), quote=True)


def _severities() -> list[Severity]:
    """Every severity, most severe first."""
    return sorted(Severity, key=lambda s: -s.rank)


def _order(f: Finding) -> tuple[Any, ...]:
    return (-f.severity.rank, f.check, natural_key(f.target.ref), f.target.line or 0)


def _value(v: object) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    if len(text) > EVIDENCE_LIMIT:
        cut = len(text) - EVIDENCE_LIMIT
        text = f"{text[:EVIDENCE_LIMIT]}... ({cut} more characters in the JSON report)"
    return text


def _evidence(f: Finding) -> str:
    parts = []
    if f.message:
        parts.append(f'<p class="msg">{_e(_value(f.message))}</p>')
    if f.evidence:
        items = " ".join(f'<li><span class="k">{_e(_value(k))}</span> '
                        f'<code>{_e(_value(v))}</code></li>' for k, v in f.evidence.items())
        parts.append(f'<ul class="ev">{items}</ul>')
    return "".join(parts)


def _reference(ref: str) -> str:
    if _URL.fullmatch(ref):
        return f'<a href="{_e(ref)}" rel="noopener noreferrer">{_e(ref)}</a>'
    return _e(ref)


def _references(refs: Iterable[str]) -> str:
    items = " ".join(f"<li>{_reference(r)}</li>" for r in refs)
    return f'<ul class="refs">{items}</ul>' if items else ""


def _badge(sev: Severity) -> str:
    return f'<span class="sev sev-{_e(sev.value)}">{_e(sev.value)}</span>'


def _chart(c: dict[Severity, int]) -> str:
    """Horizontal bars, one per severity, as inline SVG (no style attributes: the
    page's policy allows only its own style sheet)."""
    sevs = _severities()
    top = max([*c.values(), 1])
    bar_w, label_w, row_h = 300, 80, 24
    height = row_h * len(sevs)
    label = ", ".join(f"{c[s]} {s.value}" for s in sevs)
    out = [f'<svg class="chart" role="img" aria-label="Findings per severity: {_e(label)}" '
           f'width="{label_w + bar_w + 60}" height="{height}" '
           f'viewBox="0 0 {label_w + bar_w + 60} {height}">']
    for i, s in enumerate(sevs):
        y = i * row_h
        w = round(bar_w * c[s] / top) if c[s] else 0
        out.append(f'<text x="0" y="{y + 16}" class="lbl">{_e(s.value)}</text>'
                   f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="{row_h - 8}" '
                   f'class="bar bar-{_e(s.value)}"/>'
                   f'<text x="{label_w + w + 6}" y="{y + 16}" class="num">{c[s]}</text>')
    out.append("</svg>")
    return "".join(out)


def _totals(c: dict[Severity, int], passed: int) -> str:
    cells = "".join(f'<li class="tot tot-{_e(s.value)}"><span class="n">{c[s]}</span> '
                    f'{_e(s.value)}</li>' for s in _severities())
    cells += f'<li class="tot tot-passed"><span class="n">{passed}</span> passed</li>'
    return f'<ul class="totals" id="totals">{cells}</ul>'


def _per_check(findings: list[Finding]) -> str:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.check, []).append(f)
    if not groups:
        return ""
    ordered = sorted(groups.values(), key=lambda g: (-max(f.severity.rank for f in g),
                                                     -len(g), g[0].check))
    rows = []
    for g in ordered:
        worst = max(g, key=lambda f: f.severity.rank).severity
        targets = len({(f.target.kind, f.target.ref) for f in g})
        check = g[0].check
        rows.append(f"<tr><td>{_badge(worst)}</td>"
                    f'<td><button type="button" class="pick" data-filter="{_e(check)}" '
                    f'title="Show only {_e(check)}">{_e(check)}</button></td>'
                    f"<td>{_e(g[0].title)}</td><td class=\"num\">{len(g)}</td>"
                    f"<td class=\"num\">{targets}</td></tr>")
    return ('<section id="checks"><h2>Per check</h2><table class="checks">'
            "<thead><tr><th>severity</th><th>check</th><th>title</th><th>findings</th>"
            f"<th>targets</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


_COLUMNS = (("severity", "severity"), ("check", "check"), ("title", "title"),
            ("target", "target"), ("evidence", "evidence"), ("fix", "fix"),
            ("refs", "references"))


def _findings(findings: list[Finding]) -> str:
    if not findings:
        return '<section id="list"><h2>Findings</h2><p>No findings at the selected ' \
               "severities.</p></section>"
    boxes = "".join(f'<label><input type="checkbox" class="sevbox" value="{_e(s.value)}" '
                    f'checked> {_e(s.value)}</label>' for s in _severities())
    controls = ('<div class="controls"><label>Filter <input type="search" id="filter" '
                'placeholder="check, target, text..." autocomplete="off"></label>'
                f'<span class="boxes">{boxes}</span>'
                f'<span id="status" aria-live="polite">{len(findings)} of {len(findings)} '
                "findings shown</span></div>")
    head = "".join(f'<th data-key="{key}" aria-sort="none"><button type="button" '
                   f'class="sort">{label}</button></th>' for key, label in _COLUMNS)
    rows = []
    for f in findings:
        t = f.target
        ident = f' <div class="id">{_e(t.id)}</div>' if t.id else ""
        where = f"{t.kind.value} {place(t)}"
        rows.append(
            f'<tr class="finding" data-severity="{_e(f.severity.value)}" '
            f'data-rank="{f.severity.rank}">'
            f"<td>{_badge(f.severity)}</td>"
            f'<td class="check">{_e(f.check)}</td>'
            f"<td>{_e(f.title)}</td>"
            f'<td class="target" data-sort="{_e(where)}"><span class="kind">'
            f"{_e(t.kind.value)}</span> {_e(place(t))}{ident}</td>"
            f"<td>{_evidence(f)}</td>"
            f"<td>{_e(f.remediation)}</td>"
            f"<td>{_references(f.references)}</td></tr>")
    return ('<section id="list"><h2>Findings</h2>' + controls +
            f'<table id="findings" data-total="{len(findings)}" data-shown="{len(findings)}">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _list_section(ident: str, heading: str, header: tuple[str, ...],
                  rows: list[tuple[str, ...]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (f'<section id="{ident}"><h2>{_e(heading)} ({len(rows)})</h2>'
            f'<table class="plain"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></section>")


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render(report: Report) -> str:
    """The report as one self-contained HTML page."""
    report = safe(report)
    findings = sorted(report.findings, key=_order)
    c = counts(findings)
    policy = (f"default-src 'none'; style-src {_hash(STYLE)}; script-src {_hash(SCRIPT)}; "
              "img-src 'none'; base-uri 'none'; form-action 'none'")
    targets = "".join(
        f"<li><span class=\"kind\">{_e(t.kind.value)}</span> {_e(t.ref)}"
        + ("" if t.complete else ' <strong class="bad">incomplete</strong>') + "</li>"
        for t in report.targets)
    incomplete = ""
    if not report.complete:
        missing = ", ".join(t.ref for t in report.targets if not t.complete)
        incomplete = (f'<p class="banner" role="alert">Incomplete: the audit of {_e(missing)} '
                      "did not finish; the findings are partial.</p>")
    sections = [
        _list_section("errors", "Errors", ("target", "check", "message"),
                      [(e.target, e.check or "", e.message) for e in report.errors]),
        _list_section("warnings", "Warnings", ("target", "check", "message"),
                      [(w.target, w.check or "", w.message) for w in report.warnings]),
        _list_section("skipped", "Skipped checks", ("check", "target", "reason"),
                      sorted(((s.check, f"{s.target.kind.value} {place(s.target)}", s.reason)
                              for s in report.skipped),
                             key=lambda r: (r[0], natural_key(r[1])))),
        _list_section("ignored", "Ignored (accepted risks)", ("check", "target", "reason"),
                      [(f.check, f"{f.target.kind.value} {place(f.target)}", reason)
                       for f, reason in report.ignored]),
    ]
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{_e(policy)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        "<title>dockwarden report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<header><h1>dockwarden report</h1>",
        f'<p class="meta">dockwarden {_e(__version__)} · started {_e(report.started)} · '
        f"finished {_e(report.finished)} · {len(findings)} findings</p>",
        incomplete,
        f'<div class="summary">{_totals(c, report.passed)}{_chart(c)}</div>',
        f'<details class="targets"><summary>Targets ({len(report.targets)})</summary>'
        f"<ul>{targets}</ul></details></header><main>",
        _per_check(findings),
        _findings(findings),
        *sections,
        "</main>",
        f"<script>{SCRIPT}</script></body></html>\n",
    ])


STYLE = """
:root{--fg:#1d1f23;--bg:#fff;--muted:#5b6270;--line:#d9dce1;--head:#f3f4f6;
--critical:#8b0a1a;--high:#d0421b;--unknown:#7c3aed;--medium:#c88a00;--low:#2f6fb3;
--info:#6b7280;--other:#6b21a8}
@media (prefers-color-scheme:dark){:root{--fg:#e6e7ea;--bg:#16181c;--muted:#a0a6b1;
--line:#363a42;--head:#22252b;--critical:#ff5c6c;--high:#ff8a4c;--unknown:#b794f6;
--medium:#f3c34c;--low:#6aa9f0;--info:#9ca3af;--other:#c084fc}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1600px;padding:16px 24px;color:var(--fg);background:var(--bg);
font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{margin:0 0 4px;font-size:22px}h2{font-size:17px;margin:24px 0 8px}
.meta{color:var(--muted);margin:0 0 12px}
.banner{border:2px solid var(--high);padding:8px 12px;font-weight:600}
.summary{display:flex;flex-wrap:wrap;gap:24px;align-items:center}
.totals{display:flex;gap:8px;list-style:none;padding:0;margin:0}
.tot{border:1px solid var(--line);border-left-width:6px;padding:6px 10px;min-width:84px}
.tot .n{display:block;font-size:22px;font-weight:700}
.tot-critical{border-left-color:var(--critical)}.tot-high{border-left-color:var(--high)}
.tot-medium{border-left-color:var(--medium)}.tot-low{border-left-color:var(--low)}
.tot-info{border-left-color:var(--info)}.tot-unknown{border-left-color:var(--unknown)}.tot-passed{border-left-color:#3b8a3e}
.chart text{fill:var(--fg);font-size:13px}.chart .bar{fill:var(--other)}
.bar-critical{fill:var(--critical)!important}.bar-high{fill:var(--high)!important}
.bar-medium{fill:var(--medium)!important}.bar-low{fill:var(--low)!important}
.bar-info{fill:var(--info)!important}.bar-unknown{fill:var(--unknown)!important}
.targets{margin-top:12px}.targets ul{margin:4px 0}
.kind{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:var(--head);position:sticky;top:0}
td{overflow-wrap:anywhere}
table.checks{width:auto}td.num{text-align:right}
.sev{display:inline-block;min-width:64px;padding:1px 6px;border-radius:3px;color:#fff;
font-size:12px;font-weight:600;text-align:center;white-space:nowrap;background:var(--other)}
.sev-critical{background:var(--critical)}.sev-high{background:var(--high)}
.sev-medium{background:var(--medium);color:#1d1f23}.sev-low{background:var(--low)}
.sev-info{background:var(--info)}.sev-unknown{background:var(--unknown)}
button.sort{all:unset;cursor:pointer;font-weight:600}
button.sort:focus-visible,button.pick:focus-visible{outline:2px solid var(--low)}
th[aria-sort=ascending] button.sort::after{content:" \\25B2"}
th[aria-sort=descending] button.sort::after{content:" \\25BC"}
button.pick{all:unset;cursor:pointer;color:var(--low);text-decoration:underline}
.controls{display:flex;flex-wrap:wrap;gap:16px;align-items:center;margin:8px 0}
.controls input[type=search]{width:280px;padding:4px 6px}
.boxes label{margin-right:8px}#status{color:var(--muted)}
.ev,.refs{margin:0;padding-left:16px}.ev .k{color:var(--muted)}
.msg{margin:0 0 4px}.id{color:var(--muted);font-size:12px}
code{font:12px/1.3 ui-monospace,Menlo,Consolas,monospace}
a{color:var(--low)}.bad{color:var(--high)}
td.check{white-space:nowrap}
"""

SCRIPT = """
"use strict";
(function () {
  var table = document.getElementById("findings");
  if (table) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var texts = rows.map(function (r) {
      return Array.prototype.map.call(r.cells, function (c) { return c.textContent; })
        .join("\\n").toLowerCase();
    });
    var index = new Map(rows.map(function (r, i) { return [r, i]; }));
    var keys = ["severity", "check", "title", "target", "evidence", "fix", "refs"];
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var filterBox = document.getElementById("filter");
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input.sevbox"));
    var status = document.getElementById("status");
    var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
    var state = {filter: "", sev: null, sort: "", dir: "asc"};

    var cellText = function (row, col) {
      var cell = row.cells[col];
      return cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent;
    };

    var applyFilter = function () {
      var terms = state.filter.toLowerCase().split(/\\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row, i) {
        var ok = (state.sev === null || state.sev.has(row.dataset.severity)) &&
          terms.every(function (t) { return texts[i].indexOf(t) !== -1; });
        row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      table.dataset.shown = String(shown);
      status.textContent = shown + " of " + rows.length + " findings shown";
    };

    var applySort = function () {
      var col = keys.indexOf(state.sort);
      heads.forEach(function (th, i) {
        th.setAttribute("aria-sort", i !== col ? "none" :
          (state.dir === "asc" ? "ascending" : "descending"));
      });
      if (col < 0) { return; }
      var sign = state.dir === "asc" ? 1 : -1;
      var ordered = rows.slice().sort(function (a, b) {
        var d = col === 0 ? Number(a.dataset.rank) - Number(b.dataset.rank)
          : collator.compare(cellText(a, col), cellText(b, col));
        return d !== 0 ? sign * d : index.get(a) - index.get(b);
      });
      var frag = document.createDocumentFragment();
      ordered.forEach(function (r) { frag.appendChild(r); });
      body.appendChild(frag);
    };

    var save = function () {
      var p = new URLSearchParams();
      if (state.filter) { p.set("filter", state.filter); }
      if (state.sev !== null) { p.set("sev", Array.from(state.sev).join(",")); }
      if (state.sort) { p.set("sort", state.sort); p.set("dir", state.dir); }
      var hash = p.toString();
      try {
        history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
      } catch (e) { /* some viewers forbid it: the view still works */ }
    };

    var load = function () {
      var p = new URLSearchParams(location.hash.replace(/^#/, ""));
      state.filter = p.get("filter") || "";
      state.sev = p.has("sev") ? new Set(p.get("sev").split(",").filter(Boolean)) : null;
      state.sort = keys.indexOf(p.get("sort")) >= 0 ? p.get("sort") : "";
      state.dir = p.get("dir") === "desc" ? "desc" : (p.get("dir") === "asc" ? "asc"
        : (state.sort === "severity" ? "desc" : "asc"));
      filterBox.value = state.filter;
      boxes.forEach(function (b) { b.checked = state.sev === null || state.sev.has(b.value); });
      applySort();
      applyFilter();
    };

    filterBox.addEventListener("input", function () {
      state.filter = filterBox.value;
      applyFilter();
      save();
    });
    boxes.forEach(function (b) {
      b.addEventListener("change", function () {
        var on = boxes.filter(function (x) { return x.checked; });
        state.sev = on.length === boxes.length ? null
          : new Set(on.map(function (x) { return x.value; }));
        applyFilter();
        save();
      });
    });
    heads.forEach(function (th, i) {
      th.querySelector("button").addEventListener("click", function () {
        if (state.sort === keys[i]) {
          state.dir = state.dir === "asc" ? "desc" : "asc";
        } else {
          state.sort = keys[i];
          state.dir = keys[i] === "severity" ? "desc" : "asc";
        }
        applySort();
        save();
      });
    });
    Array.prototype.slice.call(document.querySelectorAll("button.pick")).forEach(function (b) {
      b.addEventListener("click", function () {
        state.filter = b.dataset.filter;
        filterBox.value = state.filter;
        applyFilter();
        save();
        table.scrollIntoView();
      });
    });
    window.addEventListener("hashchange", load);
    load();
  }
  document.documentElement.dataset.ready = "1";
})();
"""
