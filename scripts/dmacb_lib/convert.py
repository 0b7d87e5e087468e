# SPDX-License-Identifier: GPL-2.0
"""convert: the audit's verdicts -> one commit per driver on a branch.

  1. audit HEAD (cached: about a second on a rerun);
  2. the branch dmacb/<release> in a worktree (worktree.py), the
     helper-API patches applied first with git am;
  3. per file, the callbacks with an action are rewritten one after the
     other, starting from the base text, by the semantic patches in
     cocci/ (rewrite.py checks each result against the intended change;
     a callback whose rewrite is not exactly that is left alone);
  4. one commit per driver (files joined by a callback form one driver);
  5. reports/<release>/convert.json and convert.md.

A rerun recomputes every file from the base text: a file the branch
already holds in that form is "already converted" and nothing is
committed, so a second run changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import (audit, chan_notify, commitmsg, dashboard, delivery, formats, rewrite,
               tasklets_left, upstream, vchan_notify, vocab, worktree)
from .kernel import Kernel
from .util import PROJECT, Progress, die, info, reports_dir

SCRIPT_OF = {"completion": "cocci/dma_callback_to_completion.cocci",
             "hardirq": "cocci/dma_callback_hardirq_flag.cocci",
             "task": "cocci/dma_callback_hardirq_flag.cocci"}


def api_series(release: str) -> list[Path]:
    """The patches of delivery.api_dir(): the series whose guarantees the
    audit judged rules 3 and 6 by."""
    d = delivery.api_dir(release)
    if d is None or not d.is_dir():
        die(f"{d or PROJECT / 'patches' / 'api'}: no helper-API series")
    mm = ".".join(release.split(".")[:2])
    if not os.environ.get("DMACB_API_SERIES") and d.name != mm:
        info(f"api: no series for {mm}; trying {d.relative_to(PROJECT)}")
    return sorted(d.glob("*.patch"))


def series_id(patches: list[Path]) -> str:
    """What identifies a helper-API series on a branch: the patch-ids of its
    patches (git patch-id --stable: the diffs, not dates or messages)."""
    ids = []
    for p in patches:
        r = subprocess.run(["git", "patch-id", "--stable"], input=p.read_bytes(),
                           capture_output=True, check=False)
        ids.append(r.stdout.split()[0].decode() if r.stdout.split() else
                   hashlib.sha1(p.read_bytes()).hexdigest())
    return hashlib.sha1(" ".join(ids).encode()).hexdigest()


def apply_api(k: Kernel, wt: Path, branch: str, patches: list[Path], env: dict,
              st: upstream.ApiState) -> list[str]:
    """git am the helper-API series unless the branch has it; its commits.

    The last API commit and the series' id are recorded in git config
    (branch.<name>.dmacbApi, .dmacbApiSeries) so that a rerun finds the
    series without comparing subjects, and a branch made with another
    series (an earlier version of dmacb's patches) is refused instead of
    being converted on top of the wrong API."""
    key = f"branch.{branch}.dmacbApi"
    sid = series_id(patches)
    last = worktree.git(k.path, "config", "--get", key, check=False).stdout.strip()
    if last and worktree.git(wt, "merge-base", "--is-ancestor", last, "HEAD",
                             check=False).returncode == 0:
        had = worktree.git(k.path, "config", "--get", f"{key}Series",
                           check=False).stdout.strip()
        if had != sid:
            die(f"branch {branch} carries another helper-API series than "
                f"{patches[0].parent if patches else 'this one'} "
                f"({'an earlier version of dmacb' if not had else 'series ' + had[:12]}); "
                f"rebuild it with --force")
        return worktree.git(wt, "log", "--reverse", "--format=%H",
                            f"{k.head}..{last}").stdout.split()
    if worktree.git(wt, "rev-parse", "HEAD").stdout.strip() != k.head:
        die(f"branch {branch} has commits but not the helper-API series; rebuild it "
            f"with --force")
    # carry-forward: only what the tree lacks (st: upstream.api_state())
    if st.present:
        info(st.line())
    todo = [p for p in patches if p.name in st.missing]
    r = worktree.git(wt, "am", "--quiet", *map(str, todo), check=False, env=env) if todo \
        else None
    if r is not None and r.returncode != 0:
        worktree.git(wt, "am", "--abort", check=False)
        die(f"the helper-API series does not apply to this tree "
            f"({(r.stdout + r.stderr).strip().splitlines()[0]}); see patches/api/README.md")
    info(f"api: applied {len(todo)} helper-API patches")
    worktree.git(k.path, "config", key, worktree.git(wt, "rev-parse", "HEAD").stdout.strip())
    worktree.git(k.path, "config", f"{key}Series", sid)
    return worktree.git(wt, "log", "--reverse", "--format=%H", f"{k.head}..HEAD").stdout.split()


def plan(callbacks: list[dict]) -> tuple[dict[str, list[rewrite.Item]], list[dict]]:
    """Items per file, and records of callbacks that are not attempted."""
    per_file: dict[str, dict[str, rewrite.Item]] = defaultdict(dict)
    records = []
    for c in callbacks:
        if c["action"] == "none" and not c.get("upstream"):
            continue
        rec = {"callback": c["callback"], "file": c["sites"][0]["file"],
               "defined_in": c["defined_in"], "group": c["group"], "action": c["action"],
               "sites": [f"{s['file']}:{s['line']}" for s in c["sites"]],
               "locked": c.get("delivery", {}).get("locked", True)}
        if c.get("upstream"):
            records.append({**rec, "status": "converted-upstream", "kind": "upstream",
                            "reason": f"its assignments already pass the {c['upstream']} "
                                      f"flag"})
            continue
        if c["action"] == "completion":
            other = sorted({s["file"] for s in c["sites"]} - {c["defined_in"]})
            if other:
                records.append({**rec, "status": "not-converted", "kind": "manual",
                                "reason": f"defined in {c['defined_in']} but assigned in "
                                          f"{other[0]}: the completion rewrite works within "
                                          f"one file"})
                continue
        for s in c["sites"]:
            it = per_file[s["file"]].setdefault(c["callback"], rewrite.Item(
                c["callback"], c["action"], [], c.get("completes") or [], c["defined_in"]))
            it.sites.append(s)
    return {f: list(v.values()) for f, v in per_file.items()}, records


def rewrite_file(wt: Path, base: str, path: str, items: list[rewrite.Item]) -> dict:
    """Run the items on the base text of one file; compare with the branch."""
    text = worktree.git(wt, "show", f"{base}:{path}").stdout
    orig = text
    outcomes = []
    for it in items:
        try:
            text, out = rewrite.apply(text, Path(path).name, it)
        except Exception as e:          # spatch failure, timeout: one file only
            out = rewrite.Outcome("failed", f"spatch: {e}")
        outcomes.append((it, out))
    tip = (wt / path).read_text()
    return {"file": path, "orig": orig, "new": text, "tip": tip, "outcomes": outcomes}


def drivers(files: list[str], items: dict[str, list[rewrite.Item]]) -> list[list[str]]:
    """Files that share a callback belong to one driver (one commit)."""
    parent = {f: f for f in files}

    def find(f):
        while parent[f] != f:
            parent[f] = parent[parent[f]]
            f = parent[f]
        return f
    by_cb = defaultdict(list)
    for f in files:
        for it in items[f]:
            by_cb[(it.callback, it.defined_in)].append(f)
    for fs in by_cb.values():
        for f in fs[1:]:
            parent[find(f)] = find(fs[0])
    groups = defaultdict(list)
    for f in files:
        groups[find(f)].append(f)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def commit_drivers(k: Kernel, wt: Path, env: dict, files: list[str],
                   items: dict[str, list[rewrite.Item]], results: dict[str, dict],
                   meta: dict, deliv: delivery.Delivery | None = None,
                   carried: dict[str, str] | None = None) -> tuple[list[dict], dict]:
    """One commit per driver whose files changed; a record per callback.
    deliv: who may serve each driver, for its commit message."""
    commits: list[dict] = []
    by_cb_file: dict[tuple[str, str], dict] = {}
    # file -> the last commit since the base touching it (for the files the
    # branch already has; none of this run's commits touches them)
    last: dict[str, str] | None = None
    for unit in drivers(files, items):
        to_commit, conv = [], []
        for f in unit:
            r = results[f]
            state = ("unchanged" if r["new"] == r["orig"] else
                     "done" if r["tip"] == r["new"] else
                     "todo" if r["tip"] == r["orig"] else "edited")
            for it, out in r["outcomes"]:
                rec = by_cb_file.setdefault((it.callback, f), {
                    "callback": it.callback, "file": f, "action": it.action,
                    "group": meta[(it.callback, f)]["group"],
                    "latent_bug": meta[(it.callback, f)].get("latent_bug", False),
                    "sleeps_in": next((e["call"] for e in meta[(it.callback, f)].get(
                        "evidence", []) if e.get("reason") == "may-sleep"
                        or e.get("effect") in ("sleep", "sleep-gfp", "regmap")), None),
                    "defined_in": meta[(it.callback, f)]["defined_in"],
                    "sites": [f"{f}:{s['line']}" for s in it.sites],
                    # rules 3 and 6 were applied (verify's checker plan and
                    # the commit message must say the same)
                    "locked": meta[(it.callback, f)].get("delivery", {}).get("locked", True)})
                if out.status != "converted":
                    rec.update(status="not-converted", reason=out.reason,
                               kind="spatch-error" if out.reason.startswith("spatch:")
                               else "manual" if out.status == "unchanged" else "mismatch")
                elif state == "edited":
                    rec.update(status="not-converted", kind="branch-edited",
                               reason="the branch holds another version of this file (edited "
                                      "by hand, or converted by an older dmacb): rebuild "
                                      "with --force")
                else:
                    rec.update(status="converted", already=state == "done",
                               script=SCRIPT_OF[it.action])
                    if it.action == "completion":
                        rec.update(deleted=out.deleted, completions=out.completions,
                                   completion_struct=out.struct,
                                   completion_field=out.field)
                    conv.append(rec)
            if state == "todo":
                (wt / f).write_text(r["new"])
                to_commit.append(f)
        if to_commit:
            pfx, src = commitmsg.prefix(k.path, unit, k.head)
            mine = [c for c in conv if c["file"] in to_commit]
            acts = {c["action"] for c in mine}
            para = ""
            if deliv is not None and acts & {"completion", "hardirq"}:
                para = deliv.paragraph("completion" if acts == {"completion"} else "hardirq",
                                       sorted({c["file"] for c in mine}))
            msg = commitmsg.message(pfx, mine, para)
            sha = worktree.commit(wt, to_commit, msg, env, carried)
            commits.append({"commit": sha, "files": to_commit, "subject": msg.split("\n")[0],
                            "prefix_from": src,
                            "callbacks": sorted({c["callback"] for c in conv
                                                 if c["file"] in to_commit})})
        for c in conv:
            if c["file"] in to_commit:
                c.pop("already", None)
                c["commit"] = commits[-1]["commit"]
            elif c.pop("already", False):
                if last is None:
                    last = last_commits(wt, k.head)
                c["commit"] = last.get(c["file"], "")
    return commits, by_cb_file


def last_commits(wt: Path, since: str) -> dict[str, str]:
    """file -> the newest commit of since..HEAD touching it (one git log,
    not one per file)."""
    out: dict[str, str] = {}
    sha = ""
    for ln in worktree.git(wt, "log", "--format=%x00%H", "--name-only", "--no-renames",
                           f"{since}..HEAD").stdout.split("\n"):
        if ln.startswith("\0"):
            sha = ln[1:]
        elif ln and sha:
            out.setdefault(ln, sha)
    return out


def _land(k: Kernel, wt: Path, env: dict, api_tip: str, base: dict[str, str],
          changed: dict[str, str], rec: dict, done: dict, message,
          carried: dict[str, str] | None = None) -> dict | None:
    """Commit one provider change computed from the API tip's text, unless
    the branch holds it already (rec: converted, nothing committed) or holds
    another version of its files (rec: branch-edited).  done: what rec gets
    when converted; message(prefix) -> the commit message.  Returns the new
    commit's record, or None."""
    tip = {f: (wt / f).read_text() for f in changed}
    if all(tip[f] == changed[f] for f in changed):
        rec.update(status="converted", **done,
                   commit=worktree.git(wt, "log", "-1", "--format=%H", f"{api_tip}..HEAD",
                                       "--", *changed).stdout.strip())
        return None
    if any(tip[f] != base[f] for f in changed):
        rec.update(status="not-converted", kind="branch-edited",
                   reason="the branch holds another version of its files: rebuild with --force")
        return None
    for f, t in changed.items():
        (wt / f).write_text(t)
    pfx, src = commitmsg.prefix(k.path, sorted(changed), k.head)
    msg = message(pfx)
    sha = worktree.commit(wt, sorted(changed), msg, env, carried)
    rec.update(status="converted", commit=sha, **done)
    return {"commit": sha, "files": sorted(changed), "subject": msg.split("\n")[0],
            "prefix_from": src, "provider": rec["provider"]}


def commit_providers(k: Kernel, wt: Path, env: dict, deliv: delivery.Delivery, api_tip: str,
                     carried: dict[str, str] | None = None, jobs: int = 1
                     ) -> tuple[list[dict], list[dict]]:
    """The provider side (vchan_notify.py): one commit per provider whose
    interrupt handlers get vchan_notify_irq(), from the text of the API
    series' tip (the series changes some providers: vchan_synchronize(),
    k3-udma) and compared with the branch like the clients' files; a
    record per candidate provider."""
    commits, records = [], []
    for pl in vchan_notify.candidates(deliv.res, deliv.own_delivery_removed):
        rec = {"provider": pl.provider, "name": pl.name, "files": pl.files,
               "handlers": [h for _, h in pl.handlers]}
        records.append(rec)
        base = {f: worktree.git(wt, "show", f"{api_tip}:{f}").stdout for f in pl.files}
        changed, done, why = vchan_notify.rewrite_provider(base, wt, pl)
        if not changed and not why:
            # carry-forward: the tree's handlers already end with the call
            rec.update(status="converted-upstream",
                       reason="its interrupt handlers already call vchan_notify_irq() after "
                              "their final unlock")
            continue
        if not changed:
            rec.update(status="not-converted", reason=why)
            continue
        hooks = vchan_notify.hooks(base)

        def show(f: str, base=base) -> str:
            return base.get(f) or worktree.git(wt, "show", f"{api_tip}:{f}",
                                               check=False).stdout
        why = next((w for w in (vchan_notify.hook_problems(k, jobs, show, f, fn)
                                for f, fn in hooks) if w), "")
        if why:
            rec.update(status="not-converted", reason=why)
            continue
        extra = {"hooks": [[f, fn] for f, fn in hooks]} if hooks else {}
        got = _land(k, wt, env, api_tip, base, changed, rec,
                    {"script": vchan_notify.SCRIPT.relative_to(PROJECT).as_posix(), **extra},
                    lambda pfx: commitmsg.provider_message(pfx, pl.name, done, hooks), carried)
        if got:
            commits.append(got)
    return commits, records


def commit_tasklets(k: Kernel, wt: Path, env: dict, res, api_tip: str,
                    carried: dict[str, str] | None = None) -> tuple[list[dict], list[dict]]:
    """The providers' own delivery-only tasklets onto the core's path
    (chan_notify.py): one commit per tasklet, from the text of the API
    series' tip and compared with the branch like the other files; a
    record per tasklet of drivers/dma's providers."""
    commits, records = [], []
    dmah = worktree.git(wt, "show", f"{api_tip}:drivers/dma/dmaengine.h", check=False).stdout
    bh_wq = bool(re.search(r"struct dmaengine_notify_bh \{\s*struct work_struct", dmah))
    dma = worktree.tree_texts(wt, api_tip, "drivers/dma")
    for pl in chan_notify.candidates(res):
        pl.files = chan_notify.with_headers(wt, pl.files)
        rec = {"provider": pl.provider, "name": pl.name, "tasklet": pl.function,
               "at": pl.at, "files": pl.files}
        records.append(rec)
        base = {f: dma[f] if f in dma else worktree.git(wt, "show", f"{api_tip}:{f}").stdout
                for f in pl.files}
        # the other drivers/dma files that may include the provider's headers
        # (what git grep -l -F '<name>"' finds, in its order)
        others = {}
        for h in (f for f in pl.files if f.endswith(".h")):
            for f, text in dma.items():
                if f"{Path(h).name}\"" in text and f not in base:
                    others[f] = text
        changed, defines, why = chan_notify.rewrite_provider(base, pl, others)
        if not changed:
            rec.update(status="not-converted", reason=why)
            continue
        t = next(t for t in res.providers[pl.provider]["tasklets"]
                 if t["function"] == pl.function)
        member = defines[1].split("=", 1)[1]
        got = _land(k, wt, env, api_tip, base, changed, rec,
                    {"script": chan_notify.SCRIPT.relative_to(PROJECT).as_posix(),
                     "defines": defines, "files": sorted(changed)},
                    lambda pfx: commitmsg.tasklet_message(
                        pfx, pl.name, pl.function, t["roles"],
                        chan_notify.uses(base, member), bh_wq), carried)
        if got:
            commits.append(got)
    for f in upstream.chan_notify_users(wt, api_tip, upstream.series_files(
            upstream.series_patches(k.release))):
        records.append({"provider": f, "name": f.removeprefix("drivers/dma/").removesuffix(".c"),
                        "tasklet": "", "at": f, "files": [f], "status": "converted-upstream",
                        "reason": "delivers through dmaengine_chan_notify_*() already"})
    return commits, records


def run(k: Kernel, branch: str | None, wt_path: Path | None, force: bool,
        jobs: int, out_root: Path | None = None, reproducible: bool = False) -> int:
    t0 = time.monotonic()
    out_root = reports_dir(out_root)
    worktree.check_tree_clean(k)
    worktree.identity(k)            # refuse before any work when there is none
    branch = branch or f"dmacb/{k.release}"
    audit.run(k, out_root=out_root, jobs=jobs)
    outdir = out_root / k.release
    data = formats.load(outdir / "callbacks.json", "callbacks")
    if data["tree_commit"] != k.head:
        die(f"{outdir}/callbacks.json is of {data['tree_commit'][:12]}, not HEAD")

    patches = api_series(k.release)
    # the audit just checked this commit (callbacks.json is of HEAD) against
    # the same series: not twice
    got = data.get("api") or {}
    st = (upstream.ApiState.from_dict(got) if got.get("series") == upstream.series_name(patches)
          else upstream.api_state(k, patches))
    if st.state == "different":
        die(f"{st.line()}; convert a tree without it")
    wt, created = worktree.prepare(k, branch, wt_path, force)
    env = worktree.commit_env(k, reproducible)
    # HEAD moved on: a change the old branch had keeps its date (reproducible
    # runs date everything like the base instead)
    carried = worktree.carried_dates(k, branch) if created and not reproducible else {}
    api = apply_api(k, wt, branch, patches, env, st)
    deliv = delivery.for_tree(k, jobs, sorted({s["file"] for c in data["callbacks"]
                                               for s in c["sites"]}))
    phase = {}
    # worktree.commit() moves the branch, not the index: bring it up to
    # date however this ends
    try:
        try:
            t1 = time.monotonic()
            pcommits, prov = commit_providers(k, wt, env, deliv, api[-1] if api else k.head,
                                              carried, jobs)
            t2 = time.monotonic()
            tcommits, ptasks = commit_tasklets(k, wt, env, deliv.res, api[-1] if api else k.head,
                                               carried)
            phase["providers"], phase["provider tasklets"] = t2 - t1, time.monotonic() - t2
        except BaseException:
            worktree.git(wt, "reset", "-q", "--hard", "HEAD", check=False)
            raise
        # the client commits say which of their providers now deliver from
        # the interrupt handler
        deliv.notify_irq = {r["provider"] for r in prov if r["status"] == "converted"}

        t3 = time.monotonic()
        items, records = plan(data["callbacks"])
        files = sorted(items)
        prog = Progress("convert", len(files))
        results: dict[str, dict] = {}
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
            futs = {ex.submit(rewrite_file, wt, k.head, f, items[f]): f for f in files}
            for fut in futs:
                r = fut.result()
                results[r["file"]] = r
                prog.step(r["file"])
        prog.finish()

        meta = {}
        for c in data["callbacks"]:
            for s in c["sites"]:
                meta[(c["callback"], s["file"])] = c
        try:
            commits, by_cb_file = commit_drivers(k, wt, env, files, items, results, meta, deliv,
                                                 carried)
        except BaseException:
            # the worktree was clean when we started: drop a half-made commit
            worktree.git(wt, "reset", "-q", "--hard", "HEAD", check=False)
            raise
        phase["clients"] = time.monotonic() - t3
    finally:
        worktree.sync_index(wt)
    for rec in by_cb_file.values():
        records.append(rec)
    records.sort(key=lambda r: (r["file"], r["callback"]))

    tip = worktree.git(wt, "rev-parse", "HEAD").stdout.strip()
    worktree.restore_mtimes(wt)
    doc = {"kernel": k.release, "base_commit": k.head, "branch": branch,
           "worktree": str(wt), "tip": tip, "api_commits": api,
           "commits": branch_commits(wt, api[-1] if api else k.head),
           "callbacks": records, "providers": prov, "provider_tasklets": ptasks,
           "api": data.get("api"), "upstream_completions": data.get("upstream_completions", []),
           "tasklets_left": tasklets_left.inventory(
               wt, deliv.res.providers, ptasks,
               {c: worktree.git(wt, "log", "-1", "--format=%s", c).stdout.strip()
                for c in api})}
    write_reports(outdir, doc)
    dashboard.write(outdir, k.path)
    st = Counter(r["status"] for r in records)
    info(f"convert: {st.get('converted', 0)} converted, {st.get('not-converted', 0)} not "
         f"(reasons in {outdir}/convert.md); providers: "
         f"{sum(1 for r in prov if r['status'] == 'converted')} of {len(prov)} deliver from "
         f"their interrupt handler; {len(doc['tasklets_left'])} tasklet set-ups left in "
         f"drivers/dma; {len(commits) + len(pcommits) + len(tcommits)} new commit(s) on {branch}, "
         f"{len(doc['commits'])} in all "
         f"({wt}) in {time.monotonic() - t0:.1f}s ("
         + ", ".join(f"{n} {t:.1f}s" for n, t in phase.items()) + ")")
    return 0


def branch_commits(wt: Path, since: str) -> list[dict]:
    """The driver commits on the branch, oldest first."""
    out = worktree.git(wt, "log", "--reverse", "--format=%x00%H%x09%s", "--name-only",
                       f"{since}..HEAD").stdout
    commits = []
    for chunk in out.split("\0")[1:]:
        head, *names = [ln for ln in chunk.split("\n") if ln.strip()]
        sha, subject = head.split("\t", 1)
        commits.append({"commit": sha, "subject": subject, "files": names})
    return commits


def write_reports(outdir: Path, doc: dict) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    # convert.json must not change between identical runs: no timings,
    # and the worktree path (per machine) only in the .md
    stable = {k: v for k, v in doc.items() if k != "worktree"}
    formats.write(outdir / "convert.json", "convert", stable, sort_keys=True)
    recs = doc["callbacks"]
    lines = [f"# dmacb convert: Linux {doc['kernel']}", "",
             f"Branch `{doc['branch']}`, base `{doc['base_commit'][:12]}`, tip "
             f"`{doc['tip'][:12]}`: {len(doc['api_commits'])} helper-API commits, then "
             f"{len(doc['commits'])} driver commits.", "",
             "| group | action | converted | not converted |", "|---|---|---|---|"]
    cnt = Counter((r["group"], r["action"], r["status"]) for r in recs)
    for g, a in sorted({(r["group"], r["action"]) for r in recs}):
        lines.append(f"| {g} | {a} | {cnt[(g, a, 'converted')]} | "
                     f"{cnt[(g, a, 'not-converted')]} |")
    api = doc.get("api") or {}
    done = [r for r in recs if r["status"] == "converted-upstream"]
    comps = doc.get("upstream_completions", [])
    lines += ["", "## Already in the tree", "",
              f"- {api.get('line', 'helper API: not checked (an older audit)')}",
              f"- callbacks converted upstream (their assignments pass the flag): {len(done)}"
              + "".join(f"\n  - {r['callback']}() in {r['file']}: {r['action']}"
                        for r in done),
              f"- descriptors on a completion upstream: {len(comps)} in "
              f"{len({c['file'] for c in comps})} files"]
    lines += ["", "## Not converted", "", "| callback | file | action | why |",
              "|---|---|---|---|"]
    for r in recs:
        if r["status"] == "not-converted":
            lines.append(f"| {r['callback']} | {r['file']} | {r['action']} | "
                         f"{r['kind']}: {r['reason'].replace('|', '/')} |")
    for key, title, what, col, name in (
            ("providers", "Providers", "virt-dma providers that complete from their interrupt "
             "handler call vchan_notify_irq() after its final unlock", "handlers",
             lambda r: ", ".join(h + "()" for h in r["handlers"])),
            ("provider_tasklets", "Provider tasklets", "tasklets of drivers/dma's providers "
             "moved onto the core's notification path (delivery-only ones)", "tasklet",
             lambda r: r["tasklet"] + "()")):
        rs = doc.get(key, [])
        if not rs:
            continue
        lines += ["", f"## {title}", "",
                  f"{sum(1 for r in rs if r['status'] == 'converted')} of {len(rs)} {what}.", "",
                  f"| provider | {col} | status | commit or why not |", "|---|---|---|---|"]
        for r in rs:
            why = r["commit"][:12] if r["status"] == "converted" else r["reason"].replace("|", "/")
            lines.append(f"| {r['name']} | {name(r)} | {r['status']} | {why} |")
    left = doc.get("tasklets_left")
    if left is not None:
        kinds = Counter(t["kind"] for t in left)
        order = [*vocab.TASKLET_KINDS, "api", "unknown"]
        lines += ["", "## Tasklets left in drivers/dma", "",
                  f"{len(left)} tasklet set-ups at the branch's tip"
                  + (": " + ", ".join(f"{k} {kinds[k]}" for k in order if kinds[k]) if left else "")
                  + ".", "",
                  "| file | tasklet | provider | kind | why it is left |", "|---|---|---|---|---|"]
        for t in left:
            lines.append(f"| {t['file']}:{t['line']} | {t['function'] or '?'}() | "
                         f"{t.get('provider', '')} | {t['kind']} | {t['reason']} |")
    lines += ["", "## Converted", "", "| callback | file | action | commit |", "|---|---|---|---|"]
    for r in recs:
        if r["status"] == "converted":
            lines.append(f"| {r['callback']} | {r['file']} | {r['action']} | "
                         f"{r.get('commit', '')[:12]} |")
    (outdir / "convert.md").write_text("\n".join(lines) + "\n")
