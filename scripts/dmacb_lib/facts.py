# SPDX-License-Identifier: GPL-2.0
"""scan + facts: candidate files by git grep, then spatch facts per file.

Facts are cached per file under the user cache, keyed on the git blob id
of the file, the blob ids of the local headers in its directory (they give
spatch its types), and a digest of the SmPL and this code.  A rerun on an
unchanged tree therefore runs no spatch at all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import csource
from .kernel import Kernel
from .util import PROJECT, Progress, cache_dir, file_digest, info

COCCI = PROJECT / "cocci" / "dma_callback_facts.cocci"
# --quiet (not --very-quiet): spatch then names each file it starts
# (progress) and each file it gives up on ("EXN: ... Timeout in FILE").
SPATCH_TIMEOUT = int(os.environ.get("DMACB_SPATCH_TIMEOUT", "120"))
SPATCH_OPTS = ["-D", "facts", "--disable-worth-trying-opt", "--quiet",
               "--timeout", str(SPATCH_TIMEOUT)]
# Files that set a descriptor callback; the second pattern keeps timers,
# virtio and friends out (every file must match both, --all-match).
SITE_RE = r"(->|\.)[[:space:]]*callback(_result)?[[:space:]]*=[^=]"
DMA_RE = r"dma_async_tx_descriptor|dmaengine_|device_prep_|callback_param|async_tx|dma_async"
# Providers (and user space) are not clients.
PROVIDERS = ("drivers/dma/", "tools/")


@dataclass
class FileFacts:
    path: str                                  # relative to the tree
    blob: str
    records: list[dict] = field(default_factory=list)   # spatch JSON lines
    timeout: bool = False
    spatch_failed: str = ""
    # from the text (csource)
    functions: dict = field(default_factory=dict)       # name -> [line, end]
    macros: dict = field(default_factory=dict)
    inits: list = field(default_factory=list)           # [field, ident, line]
    grep_sites: list = field(default_factory=list)      # [line, field, rhs]

    def to_json(self) -> dict:
        return self.__dict__

    @classmethod
    def from_json(cls, d: dict) -> "FileFacts":
        return cls(**d)


def tool_digest() -> str:
    here = Path(__file__).resolve().parent
    return file_digest([COCCI, here / "facts.py", here / "csource.py"])


def _grep_worktree(k: Kernel) -> list[str]:
    """Two greps of the working tree: fixed strings first, the exact patterns on the hits."""
    r = subprocess.run(["git", "-C", str(k.path), "grep", "-l", "-I", "-F",
                        "-e", ">callback", "-e", ".callback", "-e", "> callback",
                        "-e", ". callback", "--", "*.c", "*.h"], capture_output=True, text=True)
    first = r.stdout.split()
    if not first:
        return []
    r = subprocess.run(["git", "-C", str(k.path), "grep", "-l", "-I", "-E", "--all-match",
                        "-e", SITE_RE, "-e", DMA_RE, "--", *first],
                       capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"git grep failed: {r.stderr.strip()}")
    return sorted(p for p in r.stdout.split() if not p.startswith(PROVIDERS))


def candidates(k: Kernel) -> list[str]:
    """Candidate files of the working tree.

    Cached per commit for a clean tree.  A tree with changes (or untracked
    files) is grepped as it is and the result is not cached.
    """
    if changed_files(k):
        return _grep_worktree(k)
    cfile = cache_dir() / "scan" / f"{k.head}-{tool_digest()}.txt"
    if cfile.exists():
        return cfile.read_text().split()
    base = _grep_worktree(k)
    cfile.parent.mkdir(parents=True, exist_ok=True)
    tmp = cfile.with_name(cfile.name + f".{os.getpid()}")
    tmp.write_text("\n".join(base) + "\n")
    tmp.replace(cfile)
    return base


def changed_files(k: Kernel) -> list[str]:
    """Files that differ from HEAD in the working tree, or are untracked."""
    if getattr(k, "_changed", None) is None:
        r = subprocess.run(["git", "-C", str(k.path), "diff", "--name-only", "-z", "HEAD", "--"],
                           capture_output=True, text=True, check=True)
        o = subprocess.run(["git", "-C", str(k.path), "ls-files", "-o", "-z", "--exclude-standard"],
                           capture_output=True, text=True, check=True)
        k._changed = sorted({p for p in r.stdout.split("\0") + o.stdout.split("\0") if p})
    return k._changed


def blob_ids(k: Kernel, paths: list[str]) -> dict[str, str]:
    """Blob id of each path as it is in the working tree."""
    r = subprocess.run(["git", "-C", str(k.path), "ls-tree", "-r", "-z", "HEAD"],
                       capture_output=True, text=True, check=True)
    want = set(paths)
    ids = {}
    for ent in r.stdout.split("\0"):
        if ent:
            meta, path = ent.split("\t", 1)
            if path in want:
                ids[path] = meta.split()[2]
    dirty = [p for p in paths if (p in changed_files(k) or p not in ids)
             and (k.path / p).exists()]
    if dirty:
        h = subprocess.run(["git", "-C", str(k.path), "hash-object", "--", *dirty],
                           capture_output=True, text=True, check=True)
        ids.update(zip(dirty, h.stdout.split()))
    return ids


def memo(k: Kernel, name: str, query: list[str], compute):
    """Cache a whole-tree git grep result for a clean tree, keyed on HEAD."""
    if changed_files(k):
        return compute()
    import hashlib
    here = Path(__file__).resolve().parent
    code = file_digest([here / "audit.py", here / "facts.py"])    # the grep lives there
    key = hashlib.sha1("\0".join([code, name, *query]).encode()).hexdigest()[:16]
    f = cache_dir() / "grep" / f"{k.head}-{key}.json"
    if f.exists():
        try:
            return json.loads(f.read_text())
        except ValueError:
            pass
    val = compute()
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f.name + f".{os.getpid()}")
    tmp.write_text(json.dumps(val))
    tmp.replace(f)
    return val


def text_facts(ff: FileFacts, raw: str) -> None:
    src = csource.parse(raw)
    ff.functions = {n: [f.line, f.end] for n, f in src.functions.items()}
    ff.macros = src.macros
    ff.inits = [list(t) for t in csource.initialiser_stores(src.text)]
    ff.grep_sites = [list(t) for t in csource.site_lines(src.text)]


def parse_record(line: str) -> dict | None:
    """One line of the facts script's output: JSON, or an OCaml TSV record."""
    if line.startswith("{"):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            return None
    f = line.rstrip("\n").split("\t")
    try:
        if f[0] == "C" and len(f) == 5:
            # arguments: read from the source when needed (classify.Index.args)
            return {"k": "call", "file": f[1], "line": int(f[2]), "fn": f[3], "name": f[4]}
        if f[0] == "D" and len(f) >= 5:
            return {"k": "def", "file": f[1], "line": int(f[2]), "fn": f[3], "name": f[3],
                    "params": "\t".join(f[4:])}
        if f[0] == "I" and len(f) == 5:
            return {"k": "icall", "file": f[1], "line": int(f[2]), "fn": f[3], "name": f[4]}
        if f[0] == "S" and len(f) == 6:
            return {"k": "store", "file": f[1], "line": int(f[2]), "fn": f[3], "dst": f[4],
                    "src": f[5]}
    except ValueError:
        pass
    return None


def run_spatch(k: Kernel, paths: list[str], jobs: int) -> dict[str, tuple[list[dict], str]]:
    """Facts for paths: {path: (records, error)}; one file per group."""
    out: dict[str, tuple[list[dict], str]] = {p: ([], "") for p in paths}
    if not paths:
        return out
    prog = Progress("spatch", len(paths))
    absmap = {str(k.path / p): p for p in paths}
    with tempfile.TemporaryDirectory(prefix="dmacb-spatch-") as tmp:
        groups = Path(tmp, "groups")
        groups.write_text("".join(f"{a}\n\n" for a in absmap))
        # Run outside the kernel tree: its .cocciconfig adds --use-gitgrep,
        # 33x slower with a file list (KERNEL-FACTS.md).
        cmd = ["spatch", "--sp-file", str(COCCI), *SPATCH_OPTS,
               "--file-groups", str(groups), "--jobs", str(max(1, jobs)),
               "--chunksize", "1", "--tmp-dir", str(Path(tmp, "j"))]
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        failed: dict[str, str] = {}
        errlines: list[str] = []

        def read_stderr() -> None:
            # spatch names each file it starts, and each it gives up on
            assert proc.stderr
            for line in proc.stderr:
                if line.startswith("HANDLING: "):
                    rel = absmap.get(line[10:].strip())
                    if rel:
                        prog.step(rel)
                elif line.startswith("EXN: "):
                    m = re.search(r"EXN: (.*) in (\S+)\s*$", line)
                    if m and m.group(2) in absmap:
                        failed[absmap[m.group(2)]] = ("timeout" if "Timeout" in m.group(1)
                                                      else m.group(1).strip())
                else:
                    errlines.append(line)

        t = threading.Thread(target=read_stderr)
        t.start()
        assert proc.stdout
        bad = 0
        for line in proc.stdout:
            d = parse_record(line)
            if d is None:
                # a lost fact could turn into a wrong "safe": never drop one
                bad += line.startswith(("{", "C\t", "D\t", "I\t", "S\t")) or \
                    ("\t" in line and not line.startswith(("init_defs", "HANDLING")))
                continue
            rel = absmap.get(d.pop("file"))
            if rel is not None:
                out[rel][0].append(d)
        t.join()
        err = "".join(errlines)
        proc.wait()
    prog.finish()
    if bad:
        raise RuntimeError(f"spatch printed {bad} malformed fact lines; refusing to "
                           f"classify from incomplete facts")
    for rel, why in failed.items():
        out[rel] = (out[rel][0], why)
    if proc.returncode != 0:
        raise RuntimeError(f"spatch exited {proc.returncode}: "
                           f"{(err.strip().splitlines() or ['?'])[-1]}")
    return out


def collect(k: Kernel, paths: list[str], jobs: int, use_cache: bool) -> dict[str, FileFacts]:
    """Facts of each path, from the cache or from spatch."""
    ids = blob_ids(k, paths + local_headers(k, paths))
    digest = tool_digest()
    cdir = cache_dir() / "facts" / digest
    cdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, FileFacts] = {}
    todo: list[str] = []
    keys: dict[str, str] = {}
    for p in paths:
        d = os.path.dirname(p)
        hdrs = sorted(h for h in ids if h.endswith(".h") and os.path.dirname(h) == d and h != p)
        key = ids.get(p, "none") + "-" + _short([ids[h] for h in hdrs])
        keys[p] = key
        cf = cdir / f"{key}.json"
        if use_cache and cf.exists():
            try:
                result[p] = FileFacts.from_json(json.loads(cf.read_text()))
                result[p].path = p
                continue
            except (ValueError, TypeError):
                pass
        todo.append(p)
    if todo:
        info(f"facts: {len(paths) - len(todo)} cached, running spatch on {len(todo)} files")
        got = run_spatch(k, todo, jobs)
        for p in todo:
            records, err = got[p]
            ff = FileFacts(path=p, blob=ids.get(p, ""), records=records,
                           timeout=(err == "timeout"),
                           spatch_failed="" if err in ("", "timeout") else err)
            text_facts(ff, (k.path / p).read_text(errors="replace"))
            result[p] = ff
            if ff.timeout or ff.spatch_failed:
                continue        # never cache a give-up: the next run retries
            tmpf = cdir / f".{keys[p]}.{os.getpid()}"
            tmpf.write_text(json.dumps(ff.to_json()))
            tmpf.replace(cdir / f"{keys[p]}.json")
    else:
        info(f"facts: all {len(paths)} files cached")
    return result


def local_headers(k: Kernel, paths: list[str]) -> list[str]:
    """Headers next to the given files (they give spatch its local types)."""
    dirs = {os.path.dirname(p) for p in paths}
    out = []
    for d in sorted(dirs):
        try:
            out += [f"{d}/{n}" for n in os.listdir(k.path / d) if n.endswith(".h")]
        except OSError:
            pass
    return sorted(out)


def _short(ids: list[str]) -> str:
    import hashlib
    return hashlib.sha1("".join(ids).encode()).hexdigest()[:12]
