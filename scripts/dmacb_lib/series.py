# SPDX-License-Identifier: GPL-2.0
"""series: the patch series a maintainer receives.

From the verified branch (convert.json + verify.json):

  reports/<release>/series/00-dmaengine/       the helper-API series
  reports/<release>/series/NN-<subsystem>[-K]/ one series per subsystem,
                                                split at --max (default 15)
  reports/<release>/series/index.md            what is where, what was left out

Only drivers whose verify verdict is "pass" go in.  Each series is built
as commits on the helper-API tip, the driver commits cherry-picked with
their messages completed (what was verified, Cc: trailers from
get_maintainer.pl, the Signed-off-by) by git fast-import, never a
checkout (the convert worktree keeps its files and their mtimes, so the
next verify rebuilds nothing), all
dates fixed to the base commit's, so regenerating on an unchanged tree
gives byte-identical files.  `git format-patch --base=<base>` records
base-commit and the helper-API series as prerequisite-patch-ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import commitmsg, dashboard, formats, worktree
from .kernel import Kernel
from .vocab import subsystem
from .util import cache_dir, die, info, reports_dir

API_TITLE = "dmaengine: one notification path per channel, hardirq delivery, descriptor " \
    "completions"

# what a provider commit does, and what for, by the convert record list
# it comes from
PROVIDER_WHAT = {
    "providers": "call vchan_notify_irq() as the last step of a virt-dma provider's "
                 "interrupt handler, after its final unlock, so that completions and "
                 "flagged callbacks are delivered there with no lock held "
                 "(cocci/vchan_notify_irq.cocci)",
    "provider_tasklets": "move a provider's own tasklet that only delivers callbacks onto "
                         "the core's per-channel notification path, removing the driver's "
                         "tasklet (cocci/tasklet_to_chan_notify.cocci)",
}
SO_THAT = {
    "providers": "virt-dma providers may deliver from their interrupt handler",
    "provider_tasklets": "providers need no tasklet of their own",
}

WHAT = {
    "completion": "replace a callback that only completes a completion by a descriptor "
                  "completion (dmaengine_desc_set_completion())",
    "hardirq": "mark a callback that obeys the hardirq contract with "
               "DMA_PREP_HARDIRQ_CALLBACK",
    "task": "ask for a task-context callback with DMA_PREP_TASK_CALLBACK",
}


def wrap(text: str) -> str:
    return "\n\n".join(textwrap.fill(" ".join(p.split()), 75, break_long_words=False,
                                     break_on_hyphens=False)
                       for p in text.split("\n\n"))


def maintainers(wt: Path, files: list[str]) -> list[str]:
    """People, then lists, each sorted: get_maintainer.pl's own order of
    entries with equal weight changes from run to run (perl hash order).

    Remembered per MAINTAINERS, get_maintainer.pl and the files' blob ids
    at the worktree's HEAD (its K: keywords read the files' text): it is
    the slowest part of a rerun otherwise."""
    ids = worktree.git(wt, "ls-tree", "HEAD", "--", "MAINTAINERS",
                       "scripts/get_maintainer.pl", *files).stdout
    key = hashlib.sha256((ids + "\0".join(files)).encode()).hexdigest()
    memo = cache_dir() / "maintainers" / key[:2] / f"{key}.json"
    try:
        return json.loads(memo.read_text())
    except (OSError, ValueError):
        pass
    r = subprocess.run(["./scripts/get_maintainer.pl", "--no-rolestats", "--no-git",
                        "--no-git-fallback", "--no-tree", "-f", *files], cwd=wt,
                       capture_output=True, text=True)
    got = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
    people = sorted({g for g in got if "<" in g}, key=str.lower)
    lists = sorted({g for g in got if "<" not in g})
    if r.returncode == 0:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(people + lists))
        tmp.replace(memo)
    return people + lists


def verified_note(d: dict, recs: list[dict]) -> str:
    """What was verified for one driver, for its commit message."""
    configs = sorted({c for b in d["checks"]["build"].values() for c in b.get("configs") or []})
    text = (f"Compile-tested with W=1 on {', '.join(configs) or 'no configuration'}: "
            f"no new diagnostics, every changed line compiled.")
    if all(c.get("ok") for c in d["checks"]["checker"].values()):
        what = ["the file parses"]
        actions = {r["action"] for r in recs}
        if "hardirq" in actions:
            what.append("the hardirq contract holds over the call graph of the callbacks "
                        "marked DMA_PREP_HARDIRQ_CALLBACK")
        if "completion" in actions:
            what.append("no reference to a removed callback remains and each completion "
                        "is the one the callback completed")
        text += (" dmacb-check (libclang) found that " + ", ".join(what[:-1])
                 + (" and " if len(what) > 1 else "") + what[-1] + ".")
    return text


def message(orig: str, cc: list[str], signoff: str | None) -> str:
    """The convert commit's message with Cc: trailers and (optionally)
    another Signed-off-by.  What verify found is not part of it: it goes
    below the '---' line (a git note, format-patch --notes)."""
    body, _, trailers = orig.rstrip("\n").rpartition("\n\n")
    tr = [t for t in trailers.splitlines() if t.strip()]
    if signoff:
        tr = [t for t in tr if not t.startswith("Signed-off-by:")] + [f"Signed-off-by: {signoff}"]
    tr += [f"Cc: {c}" for c in cc if f"Cc: {c}" not in tr]
    return f"{body}\n\n" + "\n".join(tr) + "\n"


NOTES_REF = "refs/notes/dmacb"


def cover_date(wt: Path, commit: str) -> str:
    return worktree.git(wt, "log", "-1", "--format=%aD", commit).stdout.strip()


def cover_blurb(name: str, part: list[dict], actions: list[str], kinds: list[str],
                table: list[str]) -> str:
    """The cover letter of a driver series: what each of its patches does."""
    what = [WHAT[a] for a in actions] + [PROVIDER_WHAT[k] for k in kinds]
    scripts = ["cocci/dma_callback_to_completion.cocci",
               "cocci/dma_callback_hardirq_flag.cocci"] if actions else []
    scripts += [PROVIDER_WHAT[k].rsplit("(", 1)[1].rstrip(")") for k in kinds]
    blurb = wrap(
        f"These patches convert {len(part)} {name} driver(s) to the notification path "
        f"and callback contexts added by the series \"{API_TITLE}\" "
        f"(prerequisite-patch-id lines below), so that "
        + " and ".join((["completion callbacks no longer need a tasklet"] if actions else []) +
                       [SO_THAT[k] for k in kinds])
        + (f". Each patch does one of: {'; '.join(what)}.\n\n" if len(what) > 1 else
           f". Every patch does the same: {what[0]}.\n\n")
        + f"They were generated with Coccinelle ({' and '.join(scripts)} of dmacb)"
        + (" from an audit that classifies each callback against the hardirq contract"
           if actions else ", each result compared with an independent computation of "
           "the intended change")
        + ", and each was compile-tested with W=1 on a configuration that builds it "
        "(every changed line compiled) and checked with checkpatch --strict"
        + (" and with a libclang checker of the hardirq contract and of the completions."
           if actions else "."))
    if table:
        blurb += "\n\nThe callbacks, with the group the audit put them in:\n\n" + \
            "\n".join(table)
    return blurb


def build_series(k: Kernel, wt: Path, api_tip: str, ref: str,
                 picks: list[tuple[str, str, str]], env: dict, branch: str) -> str:
    """Commit `picks` (commit, message, note) on api_tip into
    refs/dmacb/series/<convert branch>/<ref> (what 'b4 prep -e' can enrol),
    without a worktree or an index: one git fast-import stream (see
    _fast_import), or, where a pick's files do not start from what the
    series holds before it, each diff applied to a scratch index
    (_apply_picks)."""
    # the same picks on the same tip: the ref already holds the series
    ref_name = f"refs/dmacb/series/{branch}/{ref}"
    key = hashlib.sha256(repr((api_tip, picks, env.get("GIT_COMMITTER_NAME"),
                               env.get("GIT_COMMITTER_EMAIL"))).encode()).hexdigest()
    memo = cache_dir() / "series" / f"{hashlib.sha1(str(wt).encode()).hexdigest()[:12]}.json"
    try:
        done = json.loads(memo.read_text())
    except (OSError, ValueError):
        done = {}
    had = worktree.git(wt, "rev-parse", "-q", "--verify", ref_name, check=False).stdout.strip()
    if had and done.get(ref_name, {}).get("key") == key and done[ref_name].get("head") == had:
        return had
    head = (_fast_import(wt, api_tip, ref_name, picks, env) if picks else None) \
        or _apply_picks(wt, api_tip, ref_name, picks, env)
    done[ref_name] = {"key": key, "head": head}
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(done, indent=1, sort_keys=True))
    tmp.replace(memo)
    return head


def _changes(wt: Path, shas: list[str]) -> dict[str, list[tuple[str, str, str, str]]]:
    """Each commit's changes against its parent: (path, old blob, new
    mode, new blob), the new blob empty for a deletion."""
    out = worktree.git(wt, "diff-tree", "--stdin", "-r", "-z", "--no-renames",
                       stdin="".join(f"{s}\n" for s in shas)).stdout.split("\0")
    got: dict[str, list] = {s: [] for s in shas}
    cur, i = None, 0
    while i < len(out):
        f = out[i]
        if re.fullmatch(r"[0-9a-f]{40}", f):
            cur, i = f, i + 1
        elif f.startswith(":"):
            _, mode, old, new, status = f[1:].split(" ")
            got[cur].append((out[i + 1], old, mode, "" if status == "D" else new))
            i += 2
        else:
            i += 1
    return got


def _fast_import(wt: Path, api_tip: str, ref_name: str, picks: list[tuple[str, str, str]],
                 env: dict) -> str | None:
    """The series as one git fast-import stream: each pick's new blobs on
    top of the last commit, its note on NOTES_REF.  The commits are the
    objects commit-tree would make of the same trees, messages and
    idents.  None when a pick's files do not start from what the series
    holds before it (the branch had a commit in between that the series
    leaves out): the diff must then be applied, not its result copied."""
    shas = [p[0] for p in picks]
    ch = _changes(wt, shas)
    paths = sorted({c[0] for s in shas for c in ch[s]})
    state = {q: oid for q, (_, _, oid) in worktree.ls_tree(wt, api_tip, *paths).items()}
    zero = "0" * 40
    for s in shas:
        for path, old, _, new in ch[s]:
            if state.get(path, zero) != old:
                return None
            state[path] = new or zero
    idents = worktree.git(wt, "log", "--no-walk=unsorted", "--date=raw",
                          "--format=%H%x00%an <%ae> %ad", *shas).stdout.splitlines()
    author = dict(ln.split("\0", 1) for ln in idents)
    committer = worktree.git(wt, "var", "GIT_COMMITTER_IDENT", env=env).stdout.strip()
    had_notes = worktree.git(wt, "rev-parse", "-q", "--verify", NOTES_REF,
                             check=False).returncode == 0
    out = bytearray()
    for n, (sha, msg, _) in enumerate(picks, 1):
        out += b"commit %s\nmark :%d\n" % (ref_name.encode(), n)
        out += f"author {author[sha]}\ncommitter {committer}\n".encode() + \
            worktree.fi_data(msg.encode())
        if n == 1:
            out += f"from {api_tip}\n".encode()
        for path, _, mode, new in ch[sha]:
            out += (f"M {mode} {new} {path}\n" if new else f"D {path}\n").encode()
        out += b"\n"
    out += f"commit {NOTES_REF}\ncommitter {committer}\n".encode()
    out += worktree.fi_data(b"Notes added by dmacb series\n")
    if had_notes:
        out += f"from {NOTES_REF}^0\n".encode()
    for n, (_, _, note) in enumerate(picks, 1):
        out += b"N inline :%d\n" % n + worktree.fi_data(worktree.stripspace(note).encode())
    out += b"\n"
    r = subprocess.run(["git", "-C", str(wt), "fast-import", "--quiet", "--force",
                        "--date-format=raw", "--done"], input=bytes(out) + b"done\n",
                       capture_output=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"git fast-import: {r.stderr.decode(errors='replace').strip()}")
    return worktree.git(wt, "rev-parse", ref_name).stdout.strip()


def _apply_picks(wt: Path, api_tip: str, ref_name: str, picks: list[tuple[str, str, str]],
                 env: dict) -> str:
    """A cherry-pick without a worktree: each commit's diff applied to a
    scratch index (driver commits touch disjoint files, so it applies as
    it did on the branch), then write-tree and commit-tree."""
    with tempfile.TemporaryDirectory(prefix="dmacb-series-") as tmp:
        ienv = {**env, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        worktree.git(wt, "read-tree", api_tip, env=ienv)
        head = api_tip
        for sha, msg, note in picks:
            diff = worktree.git(wt, "diff", "--binary", "--full-index", f"{sha}^", sha).stdout
            worktree.git(wt, "apply", "--cached", "--whitespace=nowarn", stdin=diff, env=ienv)
            tree = worktree.git(wt, "write-tree", env=ienv).stdout.strip()
            a = worktree.git(wt, "log", "-1", "--format=%an%x00%ae%x00%aI", sha).stdout.strip()
            name, email, date = a.split("\0")
            head = worktree.git(wt, "commit-tree", tree, "-p", head, "-F", "-", stdin=msg,
                                env={**ienv, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                                     "GIT_AUTHOR_DATE": date}).stdout.strip()
            worktree.git(wt, "notes", "--ref", NOTES_REF, "add", "-f", "-F", "-", head,
                         stdin=note, env=env)
    worktree.git(wt, "update-ref", ref_name, head)
    return head


def format_series(wt: Path, out: Path, since: str, tip: str, base: str,
                  subject: str, blurb: str, to: list[str], date: str) -> list[Path]:
    """git format-patch with a cover letter; no --thread: its Message-Ids
    carry the time of the run, and b4/send-email thread when sending."""
    out.mkdir(parents=True, exist_ok=True)
    # --zero-commit: the 'From <sha>' line names a commit that is rebuilt
    # on every new base; without it no patch of a rerun on a moved tree
    # would come out the same
    worktree.git(wt, "format-patch", "-q", "--cover-letter", "--no-signature", "--zero-commit",
                 f"--notes={NOTES_REF}",
                 *[f"--to={m}" for m in to],
                 "--base", base, "-o", str(out), f"{since}..{tip}")
    patches = sorted(out.glob("*.patch"))
    cover = patches[0]
    text = cover.read_text()
    text = text.replace("*** SUBJECT HERE ***", subject)
    text = text.replace("*** BLURB HERE ***", blurb.rstrip())
    # the cover letter is dated now; date it like the patches instead
    text = re.sub(r"^Date: .*$", f"Date: {date}", text, count=1, flags=re.M)
    cover.write_text(text)
    return patches


def run(k: Kernel, out_root: Path | None = None, max_per_series: int = 15,
        signoff: str | None = None, reproducible: bool = False) -> int:
    t0 = time.monotonic()
    out_root = reports_dir(out_root)
    rdir = out_root / k.release
    conv = formats.load(rdir / "convert.json", "convert")
    ver = formats.load(rdir / "verify.json", "verify")
    if ver["tip"] != conv["tip"] or conv["base_commit"] != k.head:
        die(f"{rdir}: verify.json is not of the current convert branch or HEAD moved; "
            f"run 'make convert' and 'make verify' again")
    wt = worktree.registered_worktree(k, conv["branch"])
    if wt is None:
        die(f"branch {conv['branch']} has no worktree; run 'make convert' again")
    if worktree.git(wt, "status", "--porcelain", "--untracked-files=no").stdout.strip():
        die(f"worktree {wt} has uncommitted changes; commit or discard them first")
    env = worktree.commit_env(k, reproducible)
    api_tip = conv["api_commits"][-1] if conv["api_commits"] else k.head
    recs = defaultdict(list)
    for r in conv["callbacks"]:
        if r["status"] == "converted":
            recs[r["commit"]].append(r)

    series_dir = rdir / "series"
    if series_dir.exists():
        shutil.rmtree(series_dir)
    series_dir.mkdir(parents=True)
    index, doc = _run(k, wt, conv, ver, recs, env, api_tip, series_dir, max_per_series,
                      signoff)
    (series_dir / "index.md").write_text(index)
    formats.write(rdir / "series.json", "series", {"kernel": k.release, "base_commit": k.head,
                                                   "branch": conv["branch"], "series": doc})
    dashboard.write(rdir, k.path)
    info(f"series: {series_dir} ({time.monotonic() - t0:.1f}s)")
    return 0


def _run(k, wt, conv, ver, recs, env, api_tip, series_dir, max_per_series, signoff) -> str:
    # 1. the helper-API series, to the dmaengine maintainers
    api_files = worktree.git(wt, "diff", "--name-only", f"{k.head}..{api_tip}").stdout.split()
    api_to = maintainers(wt, api_files)
    blurb = wrap(
        "dmaengine completion callbacks run from a tasklet today, and tasklets are "
        "deprecated. This series gives every channel one notification path in the "
        "dmaengine core, through which all client notifications of the channel go: a BH "
        "workqueue behind it (a tasklet where the tree has no WQ_BH), chosen in one "
        "place. virt-dma delivers through it and loses its tasklet. Clients say per "
        "descriptor what their notification needs:\n\n"
        "DMA_PREP_HARDIRQ_CALLBACK: the callback may run in hard interrupt context (it "
        "never sleeps, takes no lock also taken with only bottom halves disabled, does "
        "not re-enable interrupts); a provider that calls vchan_notify_irq() as the last "
        "step of its interrupt handler delivers it from there with no lock held, so it may "
        "restart the channel, read its status or terminate it. DMA_PREP_TASK_CALLBACK: "
        "the callback runs in task context, from the channel's own work. "
        "dmaengine_desc_set_completion(): the core signals a completion, with the "
        "transfer's result, instead of calling a callback. The core records the client's "
        "choice itself; providers that do not call vchan_notify_irq() keep the deferred "
        "path, which is always correct.\n\n"
        "The provider and client conversions follow as separate series; they were "
        "generated with Coccinelle by dmacb and compile-tested and checked per driver.")
    api = conv.get("api") or {}
    doc = []
    if conv["api_commits"]:
        if api.get("present"):
            blurb += "\n\n" + wrap(
                f"The tree already has {len(api['present'])} of the series' "
                f"{len(api['present']) + len(api['missing'])} patches; these are the others.")
        api_dir = series_dir / "00-dmaengine"
        got = format_series(wt, api_dir, k.head, api_tip, k.head, API_TITLE,
                            blurb, api_to, cover_date(wt, api_tip))
        doc = [{"label": "00-dmaengine", "to": api_to, "patches": [
            {"file": p.name, "commit": c} for p, c in zip(got[1:], conv["api_commits"])]}]

    # 2. per subsystem
    passing = [d for d in ver["drivers"] if d["verdict"] == "pass"]
    left_out = [d for d in ver["drivers"] if d["verdict"] != "pass"]
    groups: dict[str, list[dict]] = defaultdict(list)
    for d in passing:
        groups[subsystem(d["files"][0])].append(d)
    rows = [f"# dmacb series: Linux {k.release}", "",
            f"Base `{k.head[:12]}`; the helper-API series first, then one series per "
            f"subsystem (at most {max_per_series} patches each).  Apply in order with "
            f"`git am` on the base.", "",
            "| series | patches | to |", "|---|---:|---|",
            f"| 00-dmaengine | {len(conv['api_commits'])} | "
            + (', '.join(api_to[:3]) if conv["api_commits"] else
               "none: the tree has the whole helper-API series") + " |"]
    prefix_sources = defaultdict(int)
    n = 0
    # the providers first: their series goes to the dmaengine maintainers
    # right after the core's
    layout = []
    for name in sorted(groups, key=lambda n: (n != "dmaengine", n)):
        # provider commits of one kind together: a series does one thing
        kind_of = {r.get("commit"): i for i, key in enumerate(PROVIDER_WHAT)
                   for r in conv.get(key, [])}
        ds = sorted(groups[name], key=lambda d: (kind_of.get(d["commit"], -1), d["files"][0]))
        layout.append((name, [ds[i:i + max_per_series] for i in range(0, len(ds),
                                                                       max_per_series)]))
    # get_maintainer.pl for every patch and series at once, two at a time
    # (a run parses MAINTAINERS; most answers are remembered)
    queries = {tuple(d["files"]) for _, parts in layout for part in parts for d in part} | \
        {tuple(sorted({f for d in part for f in d["files"]})) for _, parts in layout
         for part in parts}
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(lambda q: maintainers(wt, list(q)), sorted(queries)))
    for name, parts in layout:
        for pi, part in enumerate(parts, 1):
            n += 1
            label = f"{n:02d}-{name}" + (f"-{pi}" if len(parts) > 1 else "")
            picks = []
            table = []
            for d in part:
                rs = recs[d["commit"]]
                orig = worktree.git(wt, "log", "-1", "--format=%B", d["commit"]).stdout
                cc = maintainers(wt, d["files"])
                picks.append((d["commit"], message(orig, cc, signoff),
                              wrap(verified_note(d, rs)) + "\n"))
                _, src = commitmsg.prefix(k.path, d["files"], k.head)
                prefix_sources[src] += 1
                for r in rs:
                    table.append(f"  {r['file']}: {r['callback']}() [{r['group']}]")
            tip = build_series(k, wt, api_tip, label, picks, env, conv["branch"])
            actions = sorted({r["action"] for d in part for r in recs[d["commit"]]})
            kinds = sorted({key for key in PROVIDER_WHAT for r in conv.get(key, [])
                            for d in part if r.get("commit") == d["commit"]})
            to = maintainers(wt, sorted({f for d in part for f in d["files"]}))
            blurb = cover_blurb(name, part, actions, kinds, table)
            subj = (f"{name}: move DMA completion callbacks out of tasklets"
                    if actions else f"{name}: providers onto the core's notification path") \
                + (f" (part {pi})" if len(parts) > 1 else "")
            got = format_series(wt, series_dir / label, api_tip, tip, k.head, subj, blurb,
                                to, cover_date(wt, tip))
            doc.append({"label": label, "to": to, "patches": [
                {"file": p.name, "commit": d["commit"], "subject": d["subject"]}
                for p, d in zip(got[1:], part)]})
            rows.append(f"| {label} | {len(part)} | {', '.join(to[:3])} |")
    rows += ["", f"Subject prefixes: {prefix_sources.get('history', 0)} from the files' git "
             f"history, {prefix_sources.get('table', 0)} from dmacb's per-directory table "
             f"(the tree has no history for them).", ""]
    if left_out:
        rows += ["## Left out (verify did not pass)", "", "| driver | verdict | why |",
                 "|---|---|---|"]
        for d in left_out:
            why = "; ".join(d["reasons"] + d.get("untested", [])).replace("|", "/")
            rows.append(f"| {', '.join(d['files'])} | {d['verdict']} | {why} |")
    return "\n".join(rows) + "\n", doc
