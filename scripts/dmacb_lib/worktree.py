# SPDX-License-Identifier: GPL-2.0
"""The conversion branch and its git worktree.

dmacb never edits the user's working tree.  It converts on a branch
(dmacb/<kernelrelease> by default) checked out in a worktree under the
cache directory.  A branch is "ours" when git config records the commit
dmacb based it on (branch.<name>.dmacbBase): a branch of the same name
without that record belongs to somebody else and is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from .kernel import Kernel
from .util import cache_dir, die, info


def git(path: Path, *args: str, check: bool = True, env: dict | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(["git", "-C", str(path), *args], text=True, capture_output=True,
                       env=env, input=stdin)
    if check and r.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def ls_tree(wt: Path, rev: str, *paths: str) -> dict[str, tuple[str, str, str]]:
    """path -> (mode, type, object id) of every file at or under `paths`
    in rev (git ls-tree -r; the whole tree without paths)."""
    out = {}
    for ln in git(wt, "ls-tree", "-r", "-z", "--full-tree", rev, "--", *paths).stdout.split("\0"):
        if ln:
            meta, path = ln.split("\t", 1)
            mode, kind, oid = meta.split(" ")
            out[path] = (mode, kind, oid)
    return out


def tree_texts(wt: Path, rev: str, under: str) -> dict[str, str]:
    """path -> text of every file under `under` at `rev`, as 'git show
    rev:path' gives it to git(), from one git cat-file (a grep or a show
    per file of a kernel tree costs a process each)."""
    paths = [q for q, (_, kind, _) in ls_tree(wt, rev, under).items() if kind == "blob"]
    r = subprocess.run(["git", "-C", str(wt), "cat-file", "--batch"],
                       input="".join(f"{rev}:{q}\n" for q in paths).encode(),
                       capture_output=True, check=True)
    out, i, data = {}, 0, r.stdout
    for q in paths:
        j = data.index(b"\n", i)
        size = int(data[i:j].split()[2])
        # text=True's decoding and universal newlines
        out[q] = data[j + 1:j + 1 + size].decode().replace("\r\n", "\n").replace("\r", "\n")
        i = j + 1 + size + 1
    return out


def default_path(k: Kernel) -> Path:
    # one worktree per (tree, release): two clones of the same release
    # must not share one
    tag = hashlib.sha1(str(k.path).encode()).hexdigest()[:8]
    return cache_dir() / "convert" / f"{k.release}-{tag}" / "linux"


def base_of(k: Kernel, branch: str) -> str | None:
    r = git(k.path, "config", "--get", f"branch.{branch}.dmacbBase", check=False)
    return r.stdout.strip() or None


def branch_exists(k: Kernel, branch: str) -> bool:
    return git(k.path, "rev-parse", "--verify", "-q", f"refs/heads/{branch}",
               check=False).returncode == 0


def registered_worktree(k: Kernel, branch: str) -> Path | None:
    out = git(k.path, "worktree", "list", "--porcelain").stdout
    path = None
    for line in out.splitlines():
        if line.startswith("worktree "):
            path = Path(line[len("worktree "):])
        elif line == f"branch refs/heads/{branch}" and path is not None:
            return path
    return None


def is_registered(k: Kernel, path: Path) -> bool:
    """Whether `path` is a live worktree of k.  A kernel-tree made again
    (a fresh clone, Debian's tarball unpacked anew) keeps the same path
    and HEAD but forgets its worktrees: their checkouts then point at an
    admin dir that is gone and every git command in them fails."""
    if not (path / ".git").is_file():
        return False
    out = git(k.path, "worktree", "list", "--porcelain").stdout
    want = path.resolve()
    return any(Path(line[len("worktree "):]).resolve() == want
               for line in out.splitlines() if line.startswith("worktree ")) and \
        git(path, "rev-parse", "-q", "--verify", "HEAD", check=False).returncode == 0


def scratch_worktree(k: Kernel, path: Path, stamp: str, populate) -> Path:
    """A detached worktree of k.head at `path` (under our cache), kept
    between runs while `stamp` is unchanged and it is still registered;
    otherwise made again and handed to populate(path) before the stamp is
    written, so an interrupted populate is redone next time."""
    sfile = path.parent / (path.name + ".stamp")
    if sfile.exists() and sfile.read_text() == stamp and is_registered(k, path):
        return path
    sfile.unlink(missing_ok=True)
    if is_registered(k, path):
        git(k.path, "worktree", "remove", "--force", str(path), check=False)
    if path.exists():
        shutil.rmtree(path)
    git(k.path, "worktree", "prune")
    path.parent.mkdir(parents=True, exist_ok=True)
    git(k.path, "worktree", "add", "-q", "-f", "--detach", str(path), k.head)
    populate(path)
    sfile.write_text(stamp)
    return path


def check_tree_clean(k: Kernel) -> None:
    """Convert works from HEAD; edits that are not committed would be
    silently left out of the branch, so say so instead."""
    r = git(k.path, "status", "--porcelain", "--untracked-files=no")
    dirty = [ln[3:] for ln in r.stdout.splitlines() if ln.strip()]
    if dirty:
        die(f"{k.path}: {len(dirty)} tracked file(s) have uncommitted changes "
            f"(e.g. {dirty[0]}); convert works from a commit: commit or stash them "
            f"first (nothing was done)")


def prepare(k: Kernel, branch: str, path: Path | None, force: bool) -> tuple[Path, bool]:
    """The worktree of `branch`, created from HEAD if needed.

    Returns (path, created).  Refuses a foreign branch, a branch based on
    another commit (unless force, which rebuilds our branch), and a
    worktree with uncommitted changes.
    """
    path = path or default_path(k)
    git(k.path, "worktree", "prune")
    if branch_exists(k, branch):
        base = base_of(k, branch)
        if base is None:
            die(f"branch {branch} exists in {k.path} and was not made by dmacb; "
                f"rename or delete it, or pass --branch NAME")
        if git(k.path, "merge-base", "--is-ancestor", base, branch,
               check=False).returncode != 0:
            die(f"branch {branch} no longer contains its base {base[:12]}; it was "
                f"rewritten by hand: delete it or pass --branch NAME")
        wt = registered_worktree(k, branch)
        if base != k.head and not force:
            if git(k.path, "merge-base", "--is-ancestor", base, k.head,
                   check=False).returncode != 0:
                die(f"branch {branch} was converted from {base[:12]} but HEAD is now "
                    f"{k.head[:12]}, not a descendant of it; rerun with --force to rebuild "
                    f"it from HEAD (the old branch is deleted), or pass --branch NAME")
            # the tree moved forward (a stable update, the next release on
            # the same history): rebuild on HEAD, keep the old branch
            if wt is not None and wt.is_dir() and git(
                    wt, "status", "--porcelain", "--untracked-files=no").stdout.strip():
                die(f"worktree {wt} of {branch} has uncommitted changes; commit or "
                    f"discard them first (nothing was done)")
            git(k.path, "update-ref", previous_ref(branch), branch)
            info(f"HEAD moved on from {base[:12]} to {k.head[:12]}: rebuilding {branch} "
                 f"from it (the old branch is kept as {previous_ref(branch)})")
            force = True
        if force and wt is not None and wt.is_dir():
            # reuse the checkout: resetting rewrites only the files that
            # differ, a fresh worktree writes all ~80k of them
            remember_mtimes(wt, git(wt, "rev-parse", "HEAD").stdout.strip(), k.head)
            git(wt, "reset", "-q", "--hard", k.head)
            git(wt, "clean", "-q", "-fd", check=False)
            for key in ("dmacbBase", "dmacbApi", "dmacbApiSeries"):
                git(k.path, "config", "--unset", f"branch.{branch}.{key}", check=False)
            git(k.path, "config", f"branch.{branch}.dmacbBase", k.head)
            info(f"reset {branch} in {wt} to {k.head[:12]}")
            return wt, True
        if force:
            remove(k, branch)
        else:
            if wt is None:
                _add(k, path, branch, new=False)
                wt = path
            r = git(wt, "status", "--porcelain", "--untracked-files=no")
            if r.stdout.strip():
                die(f"worktree {wt} of {branch} has uncommitted changes; commit or "
                    f"discard them first (nothing was done)")
            return wt, False
    if path.exists():
        if path.resolve().is_relative_to(cache_dir().resolve()):
            shutil.rmtree(path)     # a leftover of ours (an interrupted run)
        else:
            die(f"{path}: already exists; choose another --worktree")
    path.parent.mkdir(parents=True, exist_ok=True)
    _add(k, path, branch, new=True)
    git(k.path, "config", f"branch.{branch}.dmacbBase", k.head)
    return path, True


def _mtimes_path(wt: Path) -> Path:
    return cache_dir() / "mtimes" / (hashlib.sha1(str(wt.resolve()).encode()).hexdigest() + ".json")


def remember_mtimes(wt: Path, tip: str, head: str) -> None:
    """Before a rebuild resets the worktree from `tip` to `head`: the mtimes
    of the files the reset rewrites, for restore_mtimes()."""
    files = git(wt, "diff", "--name-only", tip, head).stdout.split()
    m = {}
    for f in files:
        try:
            m[f] = (wt / f).stat().st_mtime_ns
        except OSError:
            pass
    p = _mtimes_path(wt)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"tip": tip, "mtimes": m}))


def restore_mtimes(wt: Path) -> int:
    """After the rebuild: a file whose content at the new tip is the one it
    had at the old tip gets its old mtime back, so that make does not
    recompile what the reset and the rewrite only rewrote (the API's
    headers, every unchanged driver).  make's decision is then the one it
    would have made had the branch not been rebuilt.  Returns how many."""
    p = _mtimes_path(wt)
    try:
        saved = json.loads(p.read_text())
    except (OSError, ValueError):
        return 0
    files = sorted(saved["mtimes"])

    def blobs(rev: str) -> dict[str, str]:
        out = {}
        for i in range(0, len(files), 500):
            for line in git(wt, "ls-tree", "-r", rev, "--", *files[i:i + 500]).stdout.splitlines():
                meta, _, f = line.partition("\t")
                out[f] = meta.split()[2]
        return out
    now, before = (blobs("HEAD"), blobs(saved["tip"])) if files else ({}, {})
    n = 0
    for f in files:
        if f in now and now[f] == before.get(f):
            t = saved["mtimes"][f]
            os.utime(wt / f, ns=(t, t))
            n += 1
    p.unlink()
    return n


def previous_ref(branch: str) -> str:
    """Where a branch rebuilt because HEAD moved on is kept."""
    return f"refs/dmacb/previous/{branch}"


def carried_dates(k: Kernel, branch: str) -> dict[str, str]:
    """patch-id -> author date of the commits of the branch as it was before
    HEAD moved on (previous_ref()): a driver commit whose change is the same
    on the new base keeps its date, so that its patch comes out
    byte-identical."""
    prev = git(k.path, "rev-parse", "-q", "--verify", previous_ref(branch),
               check=False).stdout.strip()
    if not prev:
        return {}
    log = git(k.path, "log", "-p", "--no-color", "--format=commit %H", prev, f"^{k.head}").stdout
    ids = subprocess.run(["git", "patch-id", "--stable"], input=log, capture_output=True,
                         text=True, check=True).stdout.split()
    dates = dict(line.split(" ", 1) for line in git(
        k.path, "log", "--format=%H %aI", prev, f"^{k.head}").stdout.splitlines())
    return {ids[i]: dates[ids[i + 1]] for i in range(0, len(ids) - 1, 2) if ids[i + 1] in dates}


def commit(wt: Path, files: list[str], msg: str, env: dict,
           carried: dict[str, str] | None = None) -> str:
    """Commit `files` as the worktree has them on top of its branch, as
    'git add -f' and 'git commit --signoff' would; with carried
    (carried_dates()) the author date of the earlier commit of the same
    change.  Returns the id.

    Without the index: a branch of the kernel has ~80k index entries,
    which git add and git commit each read, refresh and write again, for
    one file.  The commit is made by git fast-import from the parent's
    tree and the files, the branch moved with update-ref; the index is
    brought up to date once, by sync_index(), when the branch is done.
    A message whose last paragraph may be a trailer block (where
    --signoff's placement follows git's trailer rules) is committed by
    git itself."""
    last = msg.rstrip("\n").rpartition("\n\n")[2]
    if re.search(r"^([\w-]+:|#|\(cherry picked)", last, re.M) or "\n#" in f"\n{msg}":
        sync_index(wt)
        git(wt, "add", "-f", "--", *files)
        date = _carried_date(git(wt, "diff", "--cached", "--no-color").stdout, carried)
        if date:
            env = {**env, "GIT_AUTHOR_DATE": date}
        git(wt, "commit", "-q", "--signoff", "-F", "-", env=env, stdin=msg)
        return git(wt, "rev-parse", "HEAD").stdout.strip()
    ref = git(wt, "symbolic-ref", "-q", "HEAD").stdout.strip()
    parent = git(wt, "rev-parse", "HEAD").stdout.strip()
    modes = {q: m for q, (m, _, _) in ls_tree(wt, parent, *files).items()}
    committer = git(wt, "var", "GIT_COMMITTER_IDENT", env=env).stdout.strip()
    sob = "Signed-off-by: " + committer[:committer.rindex(">") + 1] + "\n"
    # --signoff after a paragraph that is no trailer block: a blank line,
    # then the line; git commit's whitespace clean-up after that
    text = msg if msg.endswith("\n") else msg + "\n"
    text = stripspace(text + ("" if text.endswith("\n\n") else "\n") + sob)
    changes = {}
    for f in files:
        p = wt / f
        changes[f] = (modes.get(f, "100644"), p.read_bytes()) if p.exists() else None

    def make(author_env: dict) -> str:
        author = git(wt, "var", "GIT_AUTHOR_IDENT", env=author_env).stdout.strip()
        return fast_commit(wt, parent, changes, author, committer, text)
    sha = make(env)
    date = _carried_date(git(wt, "diff", "--no-color", parent, sha).stdout, carried)
    if date:
        sha = make({**env, "GIT_AUTHOR_DATE": date})
    git(wt, "update-ref", "-m", "dmacb: commit", ref, sha, parent)
    _STALE_INDEX.add(wt.resolve())
    return sha


def _carried_date(diff: str, carried: dict[str, str] | None) -> str | None:
    """The author date carried_dates() kept for the change `diff` is."""
    if not carried:
        return None
    pid = subprocess.run(["git", "patch-id", "--stable"], input=diff, capture_output=True,
                         text=True).stdout.split()
    return carried.get(pid[0]) if pid else None


def fi_data(b: bytes) -> bytes:
    """A git fast-import data block."""
    return b"data %d\n" % len(b) + b + b"\n"


# worktrees whose branch commit() moved past their index
_STALE_INDEX: set[Path] = set()


def fast_commit(wt: Path, parent: str, changes: dict[str, tuple[str, bytes] | None],
                author: str, committer: str, message: str) -> str:
    """One commit object on `parent` with `changes` (path -> (mode, bytes),
    None to delete), made by git fast-import, which needs no index and
    writes a few loose objects (fastimport.unpackLimit); no ref moves.
    author and committer: 'Name <email> <seconds> <zone>'."""
    ref = f"refs/dmacb/fast-commit/{os.getpid()}".encode()
    out = bytearray(b"commit %s\nmark :1\n" % ref)
    out += f"author {author}\ncommitter {committer}\n".encode()
    out += fi_data(message.encode()) + b"from %s\n" % parent.encode()
    for path, ch in sorted(changes.items()):
        out += f"D {path}\n".encode() if ch is None else \
            f"M {ch[0]} inline {path}\n".encode() + fi_data(ch[1])
    # get-mark answers on stdout; the scratch ref is dropped again
    out += b"\nget-mark :1\nreset %s\nfrom %s\n\ndone\n" % (ref, b"0" * 40)
    r = subprocess.run(["git", "-C", str(wt), "fast-import", "--quiet", "--force",
                        "--date-format=raw", "--done"], input=bytes(out), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"git fast-import: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout.decode().split()[0]


def sync_index(wt: Path) -> None:
    """The index of the worktree as its branch's tip after commit() moved
    it (the files are already there): entries of unchanged files keep
    their stat data, so only the committed files are read.  Nothing to do
    (no refresh of ~80k entries) when commit() made nothing here."""
    if wt.resolve() in _STALE_INDEX:
        git(wt, "reset", "-q", "--mixed", "HEAD")
        _STALE_INDEX.discard(wt.resolve())


def stripspace(text: str) -> str:
    """git stripspace without comments: what git commit's whitespace
    clean-up and 'git notes add -F' keep of a message."""
    out: list[str] = []
    for ln in (ln.rstrip() for ln in text.split("\n")):
        if ln or (out and out[-1]):
            out.append(ln)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def _add(k: Kernel, path: Path, branch: str, new: bool) -> None:
    args = ["worktree", "add", "-q"]
    # a new branch at a path that does not exist: -f only overrides git's
    # memory of an earlier worktree there that was deleted by hand
    args += ["-f", "-b", branch, str(path), k.head] if new else [str(path), branch]
    info(f"worktree: {path} on {branch}")
    r = git(k.path, *args, check=False)
    if r.returncode != 0:
        if new and branch_exists(k, branch):
            # git made the branch before failing: it holds nothing yet, and
            # left behind it would look like a branch dmacb did not make
            git(k.path, "branch", "-D", branch, check=False)
        die(f"git worktree add {path}: {r.stderr.strip() or r.stdout.strip()}")


def remove(k: Kernel, branch: str) -> None:
    wt = registered_worktree(k, branch)
    if wt is not None:
        git(k.path, "worktree", "remove", "--force", str(wt))
    git(k.path, "branch", "-D", branch)
    for key in ("dmacbBase", "dmacbApi", "dmacbApiSeries"):
        git(k.path, "config", "--unset", f"branch.{branch}.{key}", check=False)
    info(f"deleted the old branch {branch}")


def identity(k: Kernel) -> tuple[str, str]:
    """The user's git identity (GIT_AUTHOR_* / GIT_COMMITTER_* or user.name
    and user.email as git sees them in the tree): the commits and their
    Signed-off-by are the user's, so there is no made-up fallback."""
    got = []
    for var, key in (("NAME", "user.name"), ("EMAIL", "user.email")):
        val = os.environ.get(f"GIT_AUTHOR_{var}") or \
            git(k.path, "config", "--get", key, check=False).stdout.strip()
        got.append(val)
    if not all(got):
        die("no git identity for the commits and their Signed-off-by: set it with "
            "'git config --global user.name \"Your Name\"' and 'git config --global "
            "user.email you@example.org' (or GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL)")
    return got[0], got[1]


def commit_env(k: Kernel, reproducible: bool = False) -> dict:
    """The user's identity; dates now, or with reproducible the base
    commit's (rebuilding the branch from the same base then gives the same
    commit ids, which the committed reference series rely on)."""
    env = dict(os.environ)
    name, email = identity(k)
    for who in ("AUTHOR", "COMMITTER"):
        env.setdefault(f"GIT_{who}_NAME", name)
        env.setdefault(f"GIT_{who}_EMAIL", email)
    if reproducible:
        date = git(k.path, "log", "-1", "--format=%cI", k.head).stdout.strip()
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return env
