# SPDX-License-Identifier: GPL-2.0
"""scan + facts: candidate files by git grep, then spatch facts per file.

Facts are cached per file under the user cache, keyed on the git blob id
of the file, the blob ids of the local headers in its directory (they give
spatch its types), and a digest of the SmPL and this code.  A rerun on an
unchanged tree therefore runs no spatch at all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import ancestry, csource
from .kernel import Kernel
from .util import PROJECT, Progress, cache_dir, file_digest, info

COCCI = PROJECT / "cocci" / "dma_callback_facts.cocci"
# --quiet (not --very-quiet): spatch then names each file it starts
# (progress) and each file it gives up on ("EXN: ... Timeout in FILE").
SPATCH_TIMEOUT = int(os.environ.get("DMACB_SPATCH_TIMEOUT", "120"))
SPATCH_OPTS = ["-D", "facts", "--disable-worth-trying-opt", "--quiet",
               "--timeout", str(SPATCH_TIMEOUT)]
# Files that set a descriptor callback; the second pattern keeps timers,
# virtio and friends out (every file must match both).  Written as git grep
# -E patterns (the spec); _grep_worktree checks them in Python.
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
    macro_params: dict = field(default_factory=dict)    # function-like macro -> params
    objmacros: dict = field(default_factory=dict)       # object-like macro -> body
    inits: list = field(default_factory=list)           # [field, ident, line]
    grep_sites: list = field(default_factory=list)      # [line, field, rhs]

    def to_json(self) -> dict:
        return self.__dict__

    @classmethod
    def from_json(cls, d: dict) -> "FileFacts":
        return cls(**d)


def tool_digest(cocci: Path = COCCI) -> str:
    here = Path(__file__).resolve().parent
    return file_digest([cocci, here / "facts.py", here / "csource.py"])


# The same two patterns, for Python (the scan's second step): git grep
# matches them line by line, hence no newline in [^=] and [[:space:]]
# (ASCII white space, as in the C locale).
_SITE_TAIL = re.compile(rb"callback(?:_result)?[ \t\v\f\r]*=(?=[^=\n])")
_DMA_WORDS = tuple(w.encode() for w in DMA_RE.split("|"))


def _has_site(data: bytes) -> bool:
    """SITE_RE on some line of data.

    Python's re is slow on a pattern that starts with an alternation; it is
    fast on one that starts with a word.  So find 'callback ... =' and look
    back on its line for the '->' or '.' before it.
    """
    for m in _SITE_TAIL.finditer(data):
        head = data[data.rfind(b"\n", 0, m.start()) + 1:m.start()].rstrip(b" \t\v\f\r")
        if head.endswith((b"->", b".")):
            return True
    return False


def _grep_worktree(k: Kernel) -> list[str]:
    """Fixed strings by git grep over the tree, then the exact patterns on each hit.

    The exact patterns were a second git grep (-E --all-match) over the ~660
    hits: 0.6-1 s, glibc's regex being slow on them.  Checked here in Python
    (0.1 s), on each hit as the first grep prints it, they cost almost nothing.
    """
    proc = subprocess.Popen(["git", "-C", str(k.path), "grep", "-l", "-I", "-F",
                             *[a for w in SITE_WORDS for a in ("-e", w.decode())],
                             "--", "*.c", "*.h"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = []
    assert proc.stdout
    for line in proc.stdout:
        for p in line.split():
            if p.startswith(PROVIDERS):
                continue
            try:
                data = (k.path / p).read_bytes()
            except OSError:
                continue        # gone since, or a quoted odd name: git would not match it either
            if any(w in data for w in _DMA_WORDS) and _has_site(data):
                out.append(p)
    proc.wait()
    return sorted(out)


# The scan's first step: git grep -F for these (the whole tree), or a test
# of the same words (the files a descendant changed).
SITE_WORDS = (b">callback", b".callback", b"> callback", b". callback")


def _scan_file(k: Kernel) -> Path:
    return cache_dir() / "scan" / f"{k.head}-{tool_digest()}.txt"


def scan_cached(k: Kernel) -> bool:
    """Will candidates() answer from the cache (if the tree is clean)?"""
    return _scan_file(k).exists()


def candidates(k: Kernel) -> list[str]:
    """Candidate files of the working tree.

    Cached per commit for a clean tree.  A tree with changes (or untracked
    files) is grepped as it is and the result is not cached.
    """
    cfile = _scan_file(k)
    if cfile.exists() and not changed_files(k):
        return cfile.read_text().split()
    if not changed_files(k):
        got = _from_ancestor(k)
        if got is not None:
            _put_scan(cfile, got)
            return got
    # Whether the tree is clean only decides the caching: find it out (git
    # diff, 0.2 s) while the grep runs.
    with ThreadPoolExecutor(1) as ex:
        dirty = ex.submit(changed_files, k)
        base = _grep_worktree(k)
        if dirty.result():
            return base
    _put_scan(cfile, base)
    return base


def _put_scan(cfile: Path, base: list[str]) -> None:
    cfile.parent.mkdir(parents=True, exist_ok=True)
    tmp = cfile.with_name(cfile.name + f".{os.getpid()}")
    tmp.write_text("\n".join(base) + "\n")
    tmp.replace(cfile)


def _from_ancestor(k: Kernel) -> list[str] | None:
    """The candidates of a clean tree from the cached scan of one of its
    recent ancestors: that list, less the files changed since, plus those
    of them that qualify now (the same two steps as the whole-tree grep,
    on those files only).  A stable update of a handful of files costs a
    git diff, not a grep of the tree.  None when no ancestor was scanned."""
    tool = tool_digest()
    old = ancestry.nearest(k.path, k.head,
                           lambda r: (cache_dir() / "scan" / f"{r}-{tool}.txt").exists())
    if old is None:
        return None
    changed = ancestry.changed(k.path, old, k.head, "*.c", "*.h")
    got = set((cache_dir() / "scan" / f"{old}-{tool}.txt").read_text().split()) - changed
    for p in changed:
        if p.startswith(PROVIDERS):
            continue
        try:
            data = (k.path / p).read_bytes()
        except OSError:
            continue            # deleted
        if any(t in data for t in SITE_WORDS) and any(w in data for w in _DMA_WORDS) \
                and _has_site(data):
            got.add(p)
    return sorted(got)


def changed_files(k: Kernel) -> list[str]:
    """Files that differ from HEAD in the working tree, or are untracked."""
    if getattr(k, "_changed", None) is None:
        r = subprocess.run(["git", "-C", str(k.path), "diff", "--name-only", "-z", "HEAD", "--"],
                           capture_output=True, text=True, check=True)
        o = subprocess.run(["git", "-C", str(k.path), "ls-files", "-o", "-z", "--exclude-standard"],
                           capture_output=True, text=True, check=True)
        k._changed = sorted({p for p in r.stdout.split("\0") + o.stdout.split("\0") if p})
    return k._changed


_tree_lock = threading.Lock()


def tree_ids(k: Kernel) -> dict[str, str]:
    """Blob id of every path in HEAD (one git ls-tree per run; thread-safe,
    so that the audit can start it early in the background)."""
    with _tree_lock:
        if getattr(k, "_tree_ids", None) is None:
            r = subprocess.run(["git", "-C", str(k.path), "ls-tree", "-r", "-z", "HEAD"],
                               capture_output=True, text=True, check=True)
            ids = {}
            for ent in r.stdout.split("\0"):
                if ent:
                    meta, path = ent.split("\t", 1)
                    ids[path] = meta.split()[2]
            k._tree_ids = ids
        return k._tree_ids


def blob_ids(k: Kernel, paths: list[str]) -> dict[str, str]:
    """Blob id of each path as it is in the working tree."""
    tree = tree_ids(k)
    ids = {p: tree[p] for p in paths if p in tree}
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


def text_facts(ff: FileFacts, raw: str, guess: bool = False) -> csource.Source:
    """Fill in the text half of ff; with guess, also records guessed from the
    text in place of spatch's (csource.guess_records)."""
    src = csource.parse(raw)
    ff.functions = {n: [f.line, f.end] for n, f in src.functions.items()}
    ff.macros = src.macros
    ff.macro_params = src.macro_params
    ff.objmacros = src.objects
    ff.inits = [list(t) for t in csource.initialiser_stores(src.text)]
    ff.grep_sites = [list(t) for t in csource.site_lines(src.text)]
    if guess:
        ff.records = csource.guess_records(src)
    return src


def read_text_facts(k: Kernel, paths: list[str], guess: bool = False,
                    stripped: dict | None = None) -> dict[str, FileFacts]:
    """The text half of each file's facts; spatch's records are left empty
    (or guessed, see text_facts).  The objects are never changed afterwards,
    so threads may share them.  stripped: filled with each file's text as
    classify.Index reads it (comments blanked, line starts), to share."""
    out = {}
    for p in paths:
        ff = FileFacts(path=p, blob="")
        src = text_facts(ff, (k.path / p).read_text(errors="replace"), guess)
        if stripped is not None:
            stripped[p] = (src.text, csource.line_starts(src.text))
        out[p] = ff
    return out


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


class _Silent:
    """Progress that says nothing (a spatch in the background)."""

    def step(self, label: str = "", n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _exn(line: str, absmap: dict[str, str], failed: dict[str, str]) -> None:
    """An 'EXN: ... in FILE' line of spatch's: the file it gave up on."""
    m = re.search(r"EXN: (.*) in (\S+)\s*$", line)
    if m and m.group(2) in absmap:
        failed[absmap[m.group(2)]] = ("timeout" if "Timeout" in m.group(1)
                                      else m.group(1).strip())


def _malformed(line: str) -> bool:
    """A line parse_record() refused that looks like a fact: a lost fact
    could turn into a wrong "safe", never drop one."""
    return line.startswith(("{", "C\t", "D\t", "I\t", "S\t")) or \
        ("\t" in line and not line.startswith(("init_defs", "HANDLING")))


def _records(lines, absmap: dict[str, str], out: dict[str, tuple[list[dict], str]]) -> int:
    """The fact records of spatch's stdout into out; how many malformed."""
    bad = 0
    for line in lines:
        d = parse_record(line)
        if d is None:
            bad += _malformed(line)
            continue
        rel = absmap.get(d.pop("file"))
        if rel is not None:
            out[rel][0].append(d)
    return bad


def parse_output(stdout: list[str], stderr: list[str], absmap: dict[str, str],
                 out: dict[str, tuple[list[dict], str]]) -> dict[str, str]:
    """A finished facts spatch's output, as Spatch.run reads it streaming
    (the farm's jobs): records into out, the files given up on returned
    ({path: "timeout" or the error}); RuntimeError on a malformed fact line."""
    failed: dict[str, str] = {}
    for line in stderr:
        if line.startswith("EXN: "):
            _exn(line, absmap, failed)
    bad = _records(stdout, absmap, out)
    if bad:
        raise RuntimeError(f"spatch printed {bad} malformed fact lines; refusing to "
                           f"classify from incomplete facts")
    return failed


class Spatch:
    """A facts spatch (one file per group, --jobs), told its files later.

    spatch parses the SmPL and compiles its OCaml scripts (about 0.4 s on
    one core) before it reads --file-groups.  Reading the list from stdin,
    it can start while the caller is still working the list out (the
    scan's grep, the guess at follow-up files): run() gives the list.
    """

    def __init__(self, jobs: int, cocci: Path = COCCI, opts: tuple[str, ...] = ()):
        """cocci: the facts script (default the client callbacks'); opts:
        more spatch options (the providers audit forces a few headers in
        for their types)."""
        self.tmp = tempfile.mkdtemp(prefix="dmacb-spatch-")
        # Run outside the kernel tree: its .cocciconfig adds --use-gitgrep,
        # 33x slower with a file list (KERNEL-FACTS.md).
        cmd = ["spatch", "--sp-file", str(cocci), *SPATCH_OPTS, *opts,
               "--file-groups", "/dev/stdin", "--jobs", str(max(1, jobs)),
               "--chunksize", "1", "--tmp-dir", str(Path(self.tmp, "j"))]
        # TMPDIR: its compiled OCaml goes there too, removed with it
        self.proc = subprocess.Popen(cmd, cwd=self.tmp, env={**os.environ, "TMPDIR": self.tmp},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.used = False

    def close(self) -> None:
        """Stop a spatch that was never given files (idempotent)."""
        if not self.used:
            self.used = True
            self.proc.terminate()       # still starting up: nothing to lose
            self.proc.communicate()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self, k: Kernel, paths: list[str],
            quiet: bool = False) -> dict[str, tuple[list[dict], str]]:
        """Facts for paths: {path: (records, error)}."""
        assert not self.used, "a Spatch runs once"
        self.used = True
        proc = self.proc
        out: dict[str, tuple[list[dict], str]] = {p: ([], "") for p in paths}
        prog = _Silent() if quiet or not paths else Progress("spatch", len(paths))
        absmap = {str(k.path / p): p for p in paths}
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
                    _exn(line, absmap, failed)
                else:
                    errlines.append(line)

        t = threading.Thread(target=read_stderr)
        t.start()
        # Largest first: the workers then end together, on small files.
        order = sorted(absmap, key=lambda a: -_size(a))
        try:
            assert proc.stdin
            proc.stdin.write("".join(f"{a}\n\n" for a in order))
            proc.stdin.close()
        except BrokenPipeError:
            pass            # it died starting up: its exit code and stderr say why
        assert proc.stdout
        bad = _records(proc.stdout, absmap, out)
        t.join()
        err = "".join(errlines)
        proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
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


def _cache_keys(k: Kernel, paths: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Cache key of each path (its blob id and those of the headers next to
    it), and the blob ids."""
    ids = blob_ids(k, paths + local_headers(k, paths))
    by_dir: dict[str, list[str]] = defaultdict(list)
    for h in sorted(ids):
        if h.endswith(".h"):
            by_dir[os.path.dirname(h)].append(h)
    keys = {}
    for p in paths:
        hdrs = [h for h in by_dir[os.path.dirname(p)] if h != p]
        keys[p] = ids.get(p, "none") + "-" + _short([ids[h] for h in hdrs])
    return keys, ids


def _facts_dir(cocci: Path = COCCI, salt: str = "") -> Path:
    """salt: what else the facts depend on (spatch options, the blob ids of
    forced headers); none for the client callbacks' facts."""
    name = tool_digest(cocci) + ("-" + _short([salt]) if salt else "")
    cdir = cache_dir() / "facts" / name
    cdir.mkdir(parents=True, exist_ok=True)
    return cdir


def uncached(k: Kernel, paths: list[str], use_cache: bool, cocci: Path = COCCI,
             opts: tuple[str, ...] = (), salt: str = "") -> list[str]:
    """The paths collect() will run spatch on (it may find a few more: a
    cache file it cannot read)."""
    if not use_cache:
        return list(paths)
    keys, _ = _cache_keys(k, paths)
    cdir = _facts_dir(cocci, "\0".join([*opts, salt]) if opts or salt else "")
    return [p for p in paths if not (cdir / f"{keys[p]}.json").exists()]


def collect(k: Kernel, paths: list[str], jobs: int, use_cache: bool,
            texts: Future | None = None, quiet: bool = False,
            spatch: Spatch | None = None, cocci: Path = COCCI,
            opts: tuple[str, ...] = (), salt: str = "") -> dict[str, FileFacts]:
    """Facts of each path, from the cache or from spatch.

    texts: read_text_facts() of (some of) the paths, already running in
    another thread; otherwise collect starts it itself.  quiet: no progress
    (for a collect in the background, next to one in the foreground).
    spatch: a Spatch started ahead for these paths (with the same cocci and
    opts); collect gives it the uncached ones (or closes it).  cocci, opts:
    another facts script and more spatch options (the providers audit);
    salt: anything else the facts depend on, for the cache key.
    """
    try:
        return _collect(k, paths, jobs, use_cache, texts, quiet, spatch, cocci, opts, salt)
    finally:
        if spatch:
            spatch.close()


def _collect(k: Kernel, paths: list[str], jobs: int, use_cache: bool, texts: Future | None,
             quiet: bool, spatch: Spatch | None, cocci: Path = COCCI,
             opts: tuple[str, ...] = (), salt: str = "") -> dict[str, FileFacts]:
    keys, ids = _cache_keys(k, paths)
    cdir = _facts_dir(cocci, "\0".join([*opts, salt]) if opts or salt else "")
    result: dict[str, FileFacts] = {}
    todo: list[str] = []
    for p in paths:
        cf = cdir / f"{keys[p]}.json"
        if use_cache and cf.exists():
            try:
                result[p] = FileFacts.from_json(json.loads(cf.read_text()))
                result[p].path = p
                continue
            except (ValueError, TypeError):
                pass
        todo.append(p)
    if todo:
        if not quiet:
            info(f"facts: {len(paths) - len(todo)} cached, running spatch on {len(todo)} files")
        # The text reader needs nothing from spatch: it runs in a thread while
        # the main thread mostly waits on spatch's pipes (the GIL is free).
        with ThreadPoolExecutor(1) as ex:
            if texts is None:
                texts = ex.submit(read_text_facts, k, todo)
            got = (spatch or Spatch(jobs, cocci, opts)).run(k, todo, quiet)
            tf = texts.result()
        missing = [p for p in todo if p not in tf]
        if missing:
            tf = {**tf, **read_text_facts(k, missing)}
        for p in todo:
            records, err = got[p]
            ff = dataclasses.replace(tf[p], blob=ids.get(p, ""), records=records,
                                     timeout=(err == "timeout"),
                                     spatch_failed="" if err in ("", "timeout") else err)
            result[p] = ff
            if ff.timeout or ff.spatch_failed:
                continue        # never cache a give-up: the next run retries
            # (two threads may collect at once: the temporary name is per thread)
            tmpf = cdir / f".{keys[p]}.{os.getpid()}.{threading.get_ident()}"
            tmpf.write_text(json.dumps(ff.to_json()))
            tmpf.replace(cdir / f"{keys[p]}.json")
    elif not quiet:
        info(f"facts: all {len(paths)} files cached")
    # In the order asked, whatever came from the cache: the resolution
    # prefers the first of two same-named definitions.
    return {p: result[p] for p in paths}


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
