# SPDX-License-Identifier: GPL-2.0
"""kbuild (verify stage, compile test).

Fast tests need no kernel tree: pure functions on recorded Kbuild/gcc
output, and the whole of verify_builds() driven by tests/fake_make.py.
Real-tree tests (DMACB_REAL=1, `make check-real`) build real drivers of
kernel-tree before and after hand-made conversions in a worktree of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT

from dmacb_lib import kbuild

FAKE_MAKE = ROOT / "tests" / "fake_make.py"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


# ---------------------------------------------------------------------------
# diagnostics

GCC_OUT = """\
  CC [M]  drivers/spi/spi-foo.o
/src/linux/drivers/spi/spi-foo.c: In function 'foo_dma_start':
/src/linux/drivers/spi/spi-foo.c:115:76: error: 'DMA_PREP_HARDIRQ_CALLBAK' undeclared (first use in this function); did you mean 'DMA_PREP_HARDIRQ_CALLBACK'?
  115 |         DMA_PREP_INTERRUPT | DMA_PREP_HARDIRQ_CALLBAK);
      |                              ^~~~~~~~~~~~~~~~~~~~~~~~
/src/linux/drivers/spi/spi-foo.c:115:76: note: each undeclared identifier is reported only once for each function it appears in
/src/linux/drivers/spi/spi-foo.c:646:13: error: unused variable 'x' [-Werror=unused-variable]
/src/linux/drivers/spi/spi-foo.c: At top level:
/src/linux/drivers/spi/spi-foo.c:20:12: warning: 'bar' defined but not used [-Wunused-function]
In file included from /src/linux/include/linux/dmaengine.h:12,
                 from /src/linux/drivers/spi/spi-foo.c:3:
/src/linux/include/linux/dma-x.h:7:1: warning: no previous prototype for 'dma_x' [-Wmissing-prototypes]
/src/linux/drivers/spi/spi-foo.c:40: warning: Function parameter or struct member 'q' not described in 'foo_probe'
drivers/spi/spi-foo.o: warning: objtool: foo_irq+0x1a: unreachable instruction
In function 'fortify_memcpy_chk',
    inlined from 'foo_fill' at /src/linux/drivers/spi/spi-foo.c:123:2:
/src/linux/include/linux/fortify-string.h:580:25: warning: call to '__write_overflow_field' declared with attribute warning: detected write beyond size of field [-Wattribute-warning]
cc1: all warnings being treated as errors
"""


def test_normalise_drops_positions_keeps_function_and_message():
    got = kbuild.normalise(GCC_OUT.splitlines(), ["/src/linux"])
    assert got == [
        "drivers/spi/spi-foo.c:foo_dma_start: error: 'DMA_PREP_HARDIRQ_CALLBAK' undeclared "
        "(first use in this function); did you mean 'DMA_PREP_HARDIRQ_CALLBACK'?",
        # CONFIG_WERROR's errors compare with plain warnings
        "drivers/spi/spi-foo.c:foo_dma_start: warning: unused variable 'x' [-Wunused-variable]",
        "drivers/spi/spi-foo.c:: warning: 'bar' defined but not used [-Wunused-function]",
        "include/linux/dma-x.h:: warning: no previous prototype for 'dma_x' [-Wmissing-prototypes]",
        "drivers/spi/spi-foo.c:: warning: Function parameter or struct member 'q' not described "
        "in 'foo_probe'",
        "drivers/spi/spi-foo.o:: warning: objtool: foo_irq: unreachable instruction",
        "include/linux/fortify-string.h:fortify_memcpy_chk<-foo_fill: warning: call to "
        "'__write_overflow_field' declared with attribute warning: detected write beyond "
        "size of field [-Wattribute-warning]",
    ]


def test_normalise_compares_trees_at_different_paths_and_lines():
    a = kbuild.normalise(["/a/tree/x.c: In function 'f':",
                          "/a/tree/x.c:10:3: warning: w [-Wfoo]"], ["/a/tree"])
    b = kbuild.normalise(["/b/wt/x.c: In function 'f':",
                          "/b/wt/x.c:12:3: error: w [-Werror=foo]"], ["/b/wt"])
    assert a == b


def test_new_warnings_is_a_multiset_difference():
    assert kbuild.new_warnings(["a", "b"], ["b", "a"]) == []
    assert kbuild.new_warnings(["a"], ["a", "a", "c"]) == ["a", "c"]
    assert kbuild.new_warnings(["a", "gone"], ["a"]) == []


def test_output_splitter_attributes_blocks_and_errors():
    blocks, errors = {}, {}
    sp = kbuild.OutputSplitter(lambda t, ls: blocks.setdefault(t, ls),
                               lambda t, ln: errors.setdefault(t, ln))
    stream = """\
  DESCEND objtool
  CC [M]  drivers/a.o
/s/drivers/a.c:1:1: warning: wa
  CC      drivers/b.o
/s/drivers/b.c: In function 'g':
/s/drivers/b.c:2:1: error: eb
make[4]: *** [/s/scripts/Makefile.build:234: drivers/b.o] Error 1
  CPP [M] drivers/a.i
make[3]: *** No rule to make target 'drivers/c.o'.
make[2]: Target 'drivers/a.o' not remade because of errors.
make: *** [Makefile:236: __sub-make] Error 2
"""
    for line in stream.splitlines():
        sp.feed(line)
    sp.flush()
    assert blocks["drivers/a.o"] == ["  CC [M]  drivers/a.o", "/s/drivers/a.c:1:1: warning: wa"]
    assert blocks["drivers/b.o"][1:] == ["/s/drivers/b.c: In function 'g':",
                                         "/s/drivers/b.c:2:1: error: eb"]
    assert "drivers/a.i" in blocks
    assert set(errors) == {"drivers/b.o", "drivers/c.o", "__sub-make"}
    assert "objtool" in blocks          # "  DESCEND objtool": a block, of no object


# ---------------------------------------------------------------------------
# in_config

QUERY_OUT = """\
DMACB-Q obj=drivers b=1 m=1 Y=drivers/built-in.a M=drivers/x/sub/part.o L=
DMACB-Q obj=drivers/spi b=1 m=1 Y=drivers/spi/spi.o M=drivers/spi/spi-imx.o drivers/spi/a1.o L=
DMACB-Q obj=drivers/tools b= m= Y=drivers/tools/t.o M=drivers/tools/u.o L=
"""


def test_membership_from_kbuild_lists():
    lists = kbuild.parse_query(QUERY_OUT + "make[3]: *** No rule to make target 'x'.\n")
    m = lambda f: kbuild.membership_from_lists(f, lists)      # noqa: E731
    assert m("drivers/spi/spi-imx.c") == kbuild.Membership(True, True, "drivers/spi")
    assert m("drivers/spi/spi.c") == kbuild.Membership(True, False, "drivers/spi")
    # the trap: a file in a reached directory but in no list of this config
    assert not m("drivers/spi/spi-off.c").in_config
    # a directory the config does not reach printed nothing
    assert not m("drivers/mmc/host/mmci.c").in_config
    # a composite module's part listed by an ancestor directory
    assert m("drivers/x/sub/part.c") == kbuild.Membership(True, True, "drivers")
    # reached by subdir-y only: nothing there is linked
    assert not m("drivers/tools/t.c").in_config
    assert not m("drivers/tools/u.c").in_config


# ---------------------------------------------------------------------------
# proof

SRC = """\
#include <linux/dmaengine.h>
/* a comment */
static int f(int x)
{
\tint y = FOO(x,
\t\t    DMA_PREP_HARDIRQ_CALLBACK);
#ifdef HIDDEN
\ty += g(x,
\t      DMA_PREP_HARDIRQ_CALLBACK);
#else
\ty += 2;
#endif
#if A
#if B
\ty++;
#endif
#endif
\treturn y; // done
}
"""


def fake_i(src: str, rel: str, hidden: set[int]) -> str:
    """gcc -E-like output: FOO's expansion on its first line, blank lines for
    directives, continuation lines and skipped lines."""
    out = ['# 1 "<built-in>"', f'# 1 "/t/{rel}"', "# 1 \"/t/include/linux/dmaengine.h\" 1",
           "int dma;", f'# 2 "/t/{rel}" 2']
    lines = src.split("\n")
    for n, line in enumerate(lines[1:], 2):
        s = line.strip()
        if n in hidden or s.startswith("#") or n == 6 or s.startswith("/*"):
            out.append("")
        elif n == 5:
            out.append("int y = ((x) + (1 << 10));")
        else:
            out.append(line.split("//")[0])
    return "\n".join(out) + "\n"


def test_proof_maps_linemarkers_and_conditional_groups(tmp_path):
    rel = "drivers/x/foo.c"
    ipath = tmp_path / "foo.i"
    ipath.write_text(fake_i(SRC, rel, hidden={8, 9, 15}))
    vis = kbuild.visible_lines(ipath, rel)
    assert 1 not in vis and 5 in vis and 6 not in vis and 11 in vis
    res = kbuild.classify_lines(kbuild.source_map(SRC), vis, [2, 5, 6, 8, 9, 11, 15, 18])
    # 6: the continuation of FOO(...) is seen through its group
    assert res == {"seen": [5, 6, 11, 18], "unseen": [8, 9, 15], "ignored": [2]}


def test_top_level_lines_need_no_preprocessed_file():
    assert kbuild.top_level_only(SRC, [2, 5, 6, 18]) == {
        "seen": [5, 6, 18], "unseen": [], "ignored": [2]}
    assert kbuild.top_level_only(SRC, [5, 8]) is None      # 8 is inside #ifdef HIDDEN
    assert kbuild.top_level_only(SRC, [5, 99]) is None


def test_source_map_handles_comments_strings_and_continuations():
    text = textwrap.dedent("""\
        #define M(a) \\
        \tdo { a; } while (0)
        char *s = "/* not a comment";
        /*
         * #if 0 inside a comment
         */
        int z;
        """)
    sm = kbuild.source_map(text)
    assert sm.kind[:7] == ["directive", "directive", "code", "blank", "blank", "blank", "code"]
    assert set(sm.group[:7]) == {0}


def test_parse_diff_added():
    diff = textwrap.dedent("""\
        diff --git a/x.c b/x.c
        --- a/x.c
        +++ b/x.c
        @@ -358 +358 @@ static inline void w(void)
        -a
        +b
        @@ -828 +828,2 @@ static int s(void)
        -c
        +d
        +e
        @@ -900,3 +901,0 @@
        -gone
        """)
    assert kbuild.parse_diff_added(diff) == [358, 828, 829]


# ---------------------------------------------------------------------------
# locks and the jobserver


def test_llvm_builds_every_arch_with_clang_in_its_own_build_dirs():
    from dmacb_lib import verify
    wt = Path("/somewhere/else/linux")
    assert kbuild.arch_spec("arm64").make_args() == ["ARCH=arm64",
                                                    "CROSS_COMPILE=aarch64-linux-gnu-"]
    assert (verify.base_tag(wt)[:5], verify.conv_tag(wt)[:5]) == ("base-", "conv-")
    # per tree: two trees of one release never share a build directory
    assert verify.conv_tag(wt) != verify.conv_tag(Path("/another/linux"))
    assert verify.base_tag(wt)[5:] == verify.conv_tag(wt)[5:]
    kbuild.use_llvm(True)
    try:
        a = kbuild.arch_spec("arm64")
        assert a.make_args() == ["ARCH=arm64", "LLVM=1"] and a.cc == "clang"
        assert kbuild.arch_spec("x86_64").make_args() == ["LLVM=1"]
        assert verify.base_tag(wt).endswith("-llvm") and verify.conv_tag(wt).endswith("-llvm")
        if kbuild.cc_version(a):
            assert kbuild.config_label(a).startswith("arm64 allmodconfig (clang 1")
    finally:
        kbuild.use_llvm(False)


def test_object_inputs_follows_the_cmd_dependency_list(tmp_path):
    src, b = tmp_path / "linux", tmp_path / "build"
    (src / "drivers/spi").mkdir(parents=True)
    (src / "include/linux").mkdir(parents=True)
    (b / "drivers/spi").mkdir(parents=True)
    (b / "include/config").mkdir(parents=True)
    (src / "drivers/spi/spi-foo.c").write_text("#include <linux/foo.h>\n")
    (src / "include/linux/foo.h").write_text("int foo(void);\n")
    (b / "include/config/FOO").write_text("")
    cmd = b / "drivers/spi/.spi-foo.o.cmd"
    cmd.write_text(textwrap.dedent(f"""\
        savedcmd_drivers/spi/spi-foo.o := gcc -O2 -c -o drivers/spi/spi-foo.o {src}/drivers/spi/spi-foo.c

        source_drivers/spi/spi-foo.o := {src}/drivers/spi/spi-foo.c

        deps_drivers/spi/spi-foo.o := \\
          {src}/include/linux/foo.h \\
            $(wildcard include/config/FOO) \\
            $(wildcard include/config/BAR) \\

        drivers/spi/spi-foo.o: $(deps_drivers/spi/spi-foo.o)

        $(deps_drivers/spi/spi-foo.o):
        """))
    first = kbuild.object_inputs(b, "drivers/spi/spi-foo.c")
    assert first and first == kbuild.object_inputs(b, "drivers/spi/spi-foo.c", {})
    assert kbuild.object_inputs(b, "drivers/spi/spi-bar.c") is None     # never built
    changes = [
        lambda: (src / "include/linux/foo.h").write_text("int foo(int);\n"),   # a header
        lambda: (src / "drivers/spi/spi-foo.c").write_text("/* */\n"),         # the source
        lambda: (b / "include/config/BAR").write_text(""),     # a config symbol appears
        lambda: cmd.write_text(cmd.read_text().replace("-O2", "-O2 -DX")),     # the flags
    ]
    seen = {first}
    for change in changes:
        change()
        now = kbuild.object_inputs(b, "drivers/spi/spi-foo.c")
        assert now not in seen
        seen.add(now)


def test_dirlock_is_reentrant_and_excludes_other_processes(tmp_path):
    b = tmp_path / "build" / "conv-x86_64"
    lock = kbuild.DirLock.of(b)
    assert kbuild.DirLock.of(b) is lock
    probe = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR);\n"
             "try:\n fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
             "except BlockingIOError:\n print('held')")
    with lock:
        with kbuild.DirLock.of(b):          # same process: no deadlock
            r = subprocess.run([sys.executable, "-c", probe, str(b) + ".lock"],
                               capture_output=True, text=True)
            assert r.stdout.strip() == "held"
        r = subprocess.run([sys.executable, "-c", probe, str(b) + ".lock"],
                           capture_output=True, text=True)
        assert r.stdout.strip() == "held"
    r = subprocess.run([sys.executable, "-c", probe, str(b) + ".lock"],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "free"


def test_jobserver_caps_concurrent_makes():
    js = kbuild.JobServer(2)
    try:
        a, b = js.acquire(), js.acquire()
        got = []
        t = threading.Thread(target=lambda: got.append(js.acquire()))
        t.start()
        time.sleep(0.2)
        assert not got                      # a third make waits
        js.release(a)
        t.join(2)
        assert got
        js.release(b)
        js.release(got[0])
        assert "--jobserver-auth=" in js.env()["MAKEFLAGS"]
    finally:
        js.close()


# ---------------------------------------------------------------------------
# the whole stage, on a fake tree with tests/fake_make.py


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV}).stdout


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("DMACB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DMACB_NO_INSTALL", "1")
    monkeypatch.setattr(kbuild, "MAKE", str(FAKE_MAKE))
    base = tmp_path / "linux"
    (base / "drivers" / "a").mkdir(parents=True)
    (base / "Kconfig").write_text("config A\n")
    (base / "Makefile").write_text("VERSION = 6\n")
    (base / "fake-config.json").write_text(json.dumps({
        "drivers": {"y": ["drivers/built-in.a"]},
        "drivers/a": {"y": ["drivers/a/builtin.o"],
                      "m": ["drivers/a/ok.o", "drivers/a/warn.o", "drivers/a/broken.o",
                            "drivers/a/hidden.o", "drivers/a/werr.o"]}}))
    body = "int f(void)\n{\n\treturn dma_prep(x,\n\t\tFLAGS);\n}\n"
    for name in ("ok", "warn", "broken", "hidden", "off", "builtin", "werr"):
        (base / "drivers" / "a" / f"{name}.c").write_text(body)
    (base / "drivers" / "a" / "werr.c").write_text(body + "int werrorme;\n")
    (base / "drivers" / "a" / "hidden.c").write_text(
        body + "#ifdef HIDDEN\nint g(void) { return 1; }\n#endif\n")
    (base / "drivers" / "a" / "warn.c").write_text(body + "int warnme_base;\n")
    git(base, "init", "-q", "-b", "master")
    git(base, "add", "-A")
    git(base, "commit", "-q", "-m", "base")
    conv = tmp_path / "conv"
    git(base, "worktree", "add", "-q", "--detach", str(conv), "HEAD")
    d = conv / "drivers" / "a"
    for name in ("ok", "warn", "broken", "hidden", "off", "builtin", "werr"):
        p = d / f"{name}.c"
        p.write_text(p.read_text().replace("FLAGS", "FLAGS | HARDIRQ"))
    (d / "warn.c").write_text((d / "warn.c").read_text() + "int warnme_new;\n")
    (d / "broken.c").write_text((d / "broken.c").read_text().replace("HARDIRQ", "BROKEN"))
    (d / "hidden.c").write_text((d / "hidden.c").read_text().replace(
        "return 1;", "return HARDIRQ;"))
    git(conv, "commit", "-q", "-a", "-m", "convert")
    files = [f"drivers/a/{n}.c" for n in ("ok", "warn", "broken", "hidden", "off", "builtin",
                                          "werr")]
    return {"base": base, "conv": conv, "files": files, "cache": tmp_path / "cache"}


def calls(fake) -> list[str]:
    p = fake["cache"] / "build" / "6.99.0" / "fake-make.calls"
    return p.read_text().splitlines() if p.exists() else []


def verify(fake, files=None):
    return kbuild.verify_builds(fake["base"], fake["conv"], "6.99.0", files or fake["files"],
                                arches=("x86_64",), progress=False)


def test_verify_builds_on_fake_tree(fake):
    res = verify(fake)
    ok, warn, broken = (res[f"drivers/a/{n}.c"] for n in ("ok", "warn", "broken"))
    hidden, off, builtin = (res[f"drivers/a/{n}.c"] for n in ("hidden", "off", "builtin"))
    assert ok["passed"] and ok["compile_tested"] and ok["module"]
    assert ok["config"].startswith("x86_64 allmodconfig (gcc ")
    assert ok["lines_seen"] == 1 and ok["lines_unseen"] == []
    assert builtin["passed"] and builtin["module"] is False
    # the base warning is old, the conv one new
    assert warn["base_ok"] and warn["conv_ok"] and not warn["passed"]
    assert warn["new_warnings"] == ["drivers/a/warn.c:f: warning: warnme here [-Wfake]"]
    assert broken["base_ok"] and not broken["conv_ok"] and not broken["passed"]
    assert "BROKEN" in broken["reason"] and "BROKEN" in broken["conv_log"]
    assert hidden["conv_ok"] and hidden["lines_unseen"] == [7]
    assert "not compiled" in hidden["reason"]
    # in_config: the fake make would compile off.c, Kbuild's lists do not have it
    assert not off["compile_tested"] and "not built by x86_64 allmodconfig" in off["reason"]
    # a W=1 warning of the base that CONFIG_WERROR makes an error: both fail alike
    werr = res["drivers/a/werr.c"]
    assert not werr["base_ok"] and not werr["conv_ok"] and werr["new_warnings"] == []
    assert werr["passed"] and "fail alike" in werr["reason"]


def test_a_header_is_compiled_through_the_c_file_that_includes_it(fake):
    conv = fake["conv"] / "drivers" / "a"
    (conv / "ok.c").write_text('#include "ok-dma.h"\n' + (conv / "ok.c").read_text())
    (conv / "ok-dma.h").write_text("static int g(void)\n{\n\treturn dma(FLAGS | HARDIRQ);\n}\n"
                                   "#ifdef HIDDEN\nstatic int h(void) { return 2; }\n#endif\n")
    (conv / "lonely.h").write_text("int x;\n")
    res = kbuild.verify_builds(fake["base"], fake["conv"], "6.99.0",
                               {"drivers/a/ok-dma.h": [3], "drivers/a/lonely.h": [1]},
                               arches=("x86_64",), tags=("base", "conv"), progress=False)
    h = res["drivers/a/ok-dma.h"]
    assert h["compile_tested"] and h["passed"] and h["via"] == "drivers/a/ok.c"
    assert h["config"].startswith("x86_64 allmodconfig") and h["lines_seen"] == 1
    # a changed line of the header under an #ifdef the config does not take
    res = kbuild.verify_builds(fake["base"], fake["conv"], "6.99.0",
                               {"drivers/a/ok-dma.h": [3, 6]}, arches=("x86_64",),
                               tags=("base", "conv"), progress=False)
    assert res["drivers/a/ok-dma.h"]["lines_unseen"] == [6]
    assert not res["drivers/a/ok-dma.h"]["passed"]
    lonely = kbuild.verify_builds(fake["base"], fake["conv"], "6.99.0",
                                  {"drivers/a/lonely.h": [1]}, arches=("x86_64",),
                                  tags=("base", "conv"), progress=False)["drivers/a/lonely.h"]
    assert not lonely["compile_tested"] and "no .c file of its directory includes it" in \
        lonely["reason"]


def test_changed_lines_of_many_files_in_one_diff(fake):
    base_rev = git(fake["base"], "rev-parse", "HEAD").strip()
    got = kbuild.changed_lines_all(fake["conv"], base_rev,
                                   ["drivers/a/ok.c", "drivers/a/warn.c", "drivers/a/x.c"])
    assert got == {"drivers/a/ok.c": [4], "drivers/a/warn.c": [4, 7], "drivers/a/x.c": []}
    assert kbuild.changed_lines(fake["conv"], base_rev, "drivers/a/hidden.c") == [4, 7]


def test_only_files_with_changes_under_a_conditional_get_a_preprocessed_file(fake):
    verify(fake)
    cdir = fake["cache"] / "build" / "6.99.0" / "conv-x86_64"
    assert (cdir / "drivers" / "a" / "hidden.i").exists()
    assert not (cdir / "drivers" / "a" / "ok.i").exists()


def test_verify_builds_caches_base_and_rebuilds_only_changed_conv(fake):
    verify(fake)
    n_calls = len(calls(fake))
    # prepare x2, in_config x2, base build, conv build
    assert n_calls == 8, calls(fake)
    # every make after prepare has prepare's W=1: Kbuild's prepare step runs
    # for each, and other flags would rebuild scripts/mod & co. every time
    assert all(c.endswith("[W=1]") for c in calls(fake) if "[" in c)
    res = verify(fake)
    new = calls(fake)[n_calls:]
    # no prepare, no query, no base make: one conv make (it has a failed object)
    assert [c.split(":")[0] for c in new] == ["conv-x86_64"]
    assert res["drivers/a/warn.c"]["new_warnings"]        # kept from the record
    # fix broken.c: only the conv tree builds again, warn.c keeps its record
    p = fake["conv"] / "drivers" / "a" / "broken.c"
    p.write_text(p.read_text().replace("BROKEN", "HARDIRQ"))
    res = verify(fake)
    assert res["drivers/a/broken.c"]["passed"]
    assert res["drivers/a/warn.c"]["new_warnings"] == [
        "drivers/a/warn.c:f: warning: warnme here [-Wfake]"]


def test_lost_base_cache_rebuilds_up_to_date_objects(fake):
    """Objects make considers up to date print nothing: without a cached
    result they must be compiled again, not reported as failures."""
    import shutil
    verify(fake)
    shutil.rmtree(fake["cache"] / "kbuild")
    res = verify(fake)
    assert res["drivers/a/ok.c"]["base_ok"] and res["drivers/a/ok.c"]["passed"]
    assert res["drivers/a/warn.c"]["new_warnings"]


def test_new_base_commit_recompiles_only_what_it_changed(fake):
    """A stable update (a new base commit editing one file) misses the base
    cache, keyed on the commit; the objects make leaves alone keep their
    recorded results instead of being compiled again."""
    verify(fake)
    bdir = fake["cache"] / "build" / "6.99.0" / "base-x86_64"
    before = {p: p.stat().st_mtime_ns for p in bdir.rglob("*.o")}
    assert len(before) >= 4
    p = fake["base"] / "drivers" / "a" / "ok.c"
    p.write_text(p.read_text() + "/* update */\n")
    git(fake["base"], "commit", "-q", "-am", "stable update")
    res = verify(fake)
    changed = {q.name for q, t in before.items() if q.stat().st_mtime_ns != t}
    assert changed == {"ok.o"}
    assert res["drivers/a/warn.c"]["new_warnings"] and res["drivers/a/ok.c"]["base_ok"]


def _base_goals(fake, since: int) -> list[str]:
    return sorted(g for c in calls(fake)[since:] if c.startswith("base-")
                  for g in c.split(":", 1)[1].split() if g.endswith(".o"))


def test_stable_update_carries_base_results_to_a_build_dir_that_never_compiled(fake):
    """A new base commit that changed only .c files no file includes: the
    ancestor's cached results hold for every other object, so only the
    changed ones compile, even in a build directory that has no object
    and no record (a second tree of the release).  A changed header, or a
    changed .c file that another file includes, compiles everything."""
    import shutil
    verify(fake)
    bdir = fake["cache"] / "build" / "6.99.0" / "base-x86_64"

    def forget_objects():
        for o in bdir.rglob("*.o"):
            o.unlink()
        shutil.rmtree(bdir / kbuild.META / "results", ignore_errors=True)

    def update(path: str, text: str):
        q = fake["base"] / path
        q.write_text((q.read_text() if q.exists() else "") + text)
        git(fake["base"], "add", "-A")
        git(fake["base"], "commit", "-q", "-m", f"update {path}")

    forget_objects()
    update("drivers/a/ok.c", "/* update */\n")
    n = len(calls(fake))
    res = verify(fake)
    assert _base_goals(fake, n) == ["drivers/a/ok.o"]
    assert res["drivers/a/warn.c"]["new_warnings"] and res["drivers/a/ok.c"]["base_ok"]
    forget_objects()
    update("drivers/a/inc.h", "int h;\n")
    n = len(calls(fake))
    verify(fake)
    assert "drivers/a/warn.o" in _base_goals(fake, n)
    # builtin.c includes ok.c: a change of ok.c is a change of builtin.o
    update("drivers/a/builtin.c", '#include "ok.c"\n')
    verify(fake)
    forget_objects()
    update("drivers/a/ok.c", "/* again */\n")
    n = len(calls(fake))
    verify(fake)
    assert {"drivers/a/builtin.o", "drivers/a/warn.o"} <= set(_base_goals(fake, n))


def test_build_is_resumable_per_object(fake):
    """A record is written as soon as an object's result is known: after an
    interrupt the objects already done are not compiled again."""
    verify(fake, ["drivers/a/ok.c"])           # prepares, builds ok.c
    bdir = fake["cache"] / "build" / "6.99.0" / "conv-x86_64"
    seen = []

    def interrupt(f, r):
        seen.append(f)
        if len(seen) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        kbuild.build(fake["conv"], bdir, ["drivers/a/builtin.c", "drivers/a/hidden.c"],
                     on_result=interrupt)
    assert (bdir / ".dmacb" / "results" / "drivers__a__builtin.c.json").exists()
    before = len(calls(fake))
    res = kbuild.build(fake["conv"], bdir, ["drivers/a/builtin.c", "drivers/a/hidden.c"])
    assert res["drivers/a/builtin.c"].cached and not res["drivers/a/hidden.c"].cached
    assert len(calls(fake)) == before + 1


def test_prepare_stamp(fake):
    b1 = kbuild.prepare(fake["base"], "6.99.0", "x86_64", tag="base")
    kbuild.prepare(fake["base"], "6.99.0", "x86_64", tag="base")
    assert len(calls(fake)) == 2                  # allmodconfig + modules_prepare, once
    (fake["base"] / "Kconfig").write_text("config A\nconfig B\n")
    kbuild.prepare(fake["base"], "6.99.0", "x86_64", tag="base")
    assert len(calls(fake)) == 4                  # an uncommitted Kconfig edit counts
    (b1 / "keep.o").write_text("x")
    kbuild.prepare(fake["conv"], "6.99.0", "x86_64", tag="base")   # another tree, same dir
    assert not (b1 / "keep.o").exists()
    with pytest.raises(kbuild.UserError):
        kbuild.build(fake["base"], b1, ["drivers/a/ok.c"])


def _allmodconfig(fake, monkeypatch, arch: str):
    """prepare() of arch in the fake tree: its allmodconfig make's arguments,
    the KCONFIG_ALLCONFIG fragment, every make's arguments, the directory."""
    seen = []
    real = kbuild.run_make

    def spy(args, js=None):
        seen.append(list(args))
        return real(args, js)
    monkeypatch.setattr(kbuild, "run_make", spy)
    monkeypatch.setattr(kbuild, "cc_version", lambda a: "12.2.0")
    b = kbuild.prepare(fake["base"], "6.99.0", arch, tag="base")
    allmod = next(a for a in seen if "allmodconfig" in a)
    frag = next(a for a in allmod if a.startswith("KCONFIG_ALLCONFIG="))
    return allmod, Path(frag.split("=", 1)[1]).read_text(), seen, b


def test_armv5_is_arm_allmodconfig_with_the_v5_platforms(fake, monkeypatch):
    allmod, text, seen, b = _allmodconfig(fake, monkeypatch, "armv5")
    assert "ARCH=arm" in allmod and "CROSS_COMPILE=arm-linux-gnueabihf-" in allmod
    assert "CONFIG_ARCH_MULTI_V5=y" in text and "CONFIG_ARCH_MULTI_V7=n" in text
    assert not any(a.startswith("KCONFIG_ALLCONFIG=") for a in seen[-1])   # config only
    assert b.name.endswith("armv5")
    assert kbuild.config_label(kbuild.arch_spec("armv5")).startswith(
        "armv5 allmodconfig (ARCH=arm ARCH_MULTI_V5; ")
    assert kbuild.DEFAULT_ARCHES.index("armv5") > kbuild.DEFAULT_ARCHES.index("arm")


def test_ppc32_is_powerpc_allmodconfig_with_32_bit_book3s(fake, monkeypatch):
    """fsldma needs FSL_SOC, which powerpc's plain (64-bit) allmodconfig
    does not select."""
    allmod, text, _, b = _allmodconfig(fake, monkeypatch, "ppc32")
    assert "ARCH=powerpc" in allmod and "CROSS_COMPILE=powerpc-linux-gnu-" in allmod
    assert "CONFIG_PPC64=n" in text and "CONFIG_PPC_BOOK3S_32=y" in text
    assert b.name.endswith("ppc32")
    assert kbuild.config_label(kbuild.arch_spec("ppc32")).startswith(
        "ppc32 allmodconfig (ARCH=powerpc PPC_BOOK3S_32; ")
    assert kbuild.DEFAULT_ARCHES[-1] == "ppc32"      # the last resort


def test_unseen_lines_are_retried_on_the_next_architecture(fake, monkeypatch):
    # a second architecture with the host gcc, so that no cross compiler is needed
    monkeypatch.setitem(kbuild.ARCHES, "arm64", kbuild.Arch("arm64", "arm64", None, None))
    p = fake["conv"] / "drivers" / "a" / "hidden.c"
    p.write_text(p.read_text() + "#ifdef ARM64ONLY\nint h(void) { return HARDIRQ; }\n#endif\n")
    res = kbuild.verify_builds(fake["base"], fake["conv"], "6.99.0", ["drivers/a/hidden.c"],
                               arches=("x86_64", "arm64"), progress=False)
    r = res["drivers/a/hidden.c"]
    assert [c.split(" ")[0] for c in r["configs"]] == ["x86_64", "arm64"]
    assert r["arch"] == "x86_64"
    assert r["check_arch"] == "arm64"      # the checker parses where line 10 compiled
    # changed: 4 (flag), 7 (in HIDDEN: nowhere), 9-11 (the ARM64ONLY block: its
    # directives on both, line 10 compiled on arm64 only)
    assert r["lines_unseen"] == [7] and r["lines_seen"] == 4
    assert "not compiled by x86_64 allmodconfig or arm64 allmodconfig" in r["reason"]


def test_matrix_builds_every_configuration_that_builds_the_file(fake, monkeypatch):
    """Without --matrix a file whose lines x86_64 compiled stops there; with
    it, every architecture of the list that builds it builds it, and each
    says what it found."""
    monkeypatch.setitem(kbuild.ARCHES, "arm64", kbuild.Arch("arm64", "arm64", None, None))
    files = ["drivers/a/ok.c", "drivers/a/warn.c", "drivers/a/off.c"]
    one = kbuild.verify_builds(fake["base"], fake["conv"], "6.99.0", files,
                               arches=("x86_64", "arm64"), progress=False)
    assert [c.split(" ")[0] for c in one["drivers/a/ok.c"]["configs"]] == ["x86_64"]
    assert "matrix" not in one["drivers/a/ok.c"]
    res = kbuild.verify_builds(fake["base"], fake["conv"], "6.99.0", files,
                               arches=("x86_64", "arm64"), progress=False, matrix=True)
    ok, warn, off = (res[f] for f in files)
    assert [c.split(" ")[0] for c in ok["configs"]] == ["x86_64", "arm64"]
    assert ok["matrix"] == {"x86_64": "pass", "arm64": "pass"} and ok["passed"]
    assert warn["matrix"] == {"x86_64": "new diagnostics", "arm64": "new diagnostics"}
    assert not warn["passed"] and "on arm64" in warn["reason"]
    assert off["matrix"] == {} and not off["compile_tested"]


def test_fresh_build_compiles_again_and_cc_env_reaches_the_compiles(fake, tmp_path):
    """--rebuild believes no record; the farm's environment is make's."""
    log = tmp_path / "cc.log"
    b = kbuild.prepare(fake["conv"], "6.99.0", "x86_64", tag="conv")
    f = ["drivers/a/ok.c"]
    first = kbuild.build(fake["conv"], b, f, cc_env={"FAKE_MAKE_CCLOG": str(log),
                                                     "DISTCC_HOSTS": "h1/2"})
    assert first["drivers/a/ok.c"].ok
    assert log.read_text() == "drivers/a/ok.o DISTCC_HOSTS=h1/2\n"
    again = kbuild.build(fake["conv"], b, f, cc_env={"FAKE_MAKE_CCLOG": str(log)})
    assert again["drivers/a/ok.c"].cached and log.read_text().count("\n") == 1
    fresh = kbuild.build(fake["conv"], b, f, fresh=True, cc_env={"FAKE_MAKE_CCLOG": str(log)})
    assert not fresh["drivers/a/ok.c"].cached and log.read_text().count("\n") == 2
    assert fresh["drivers/a/ok.c"].warnings == first["drivers/a/ok.c"].warnings


def test_matrix_configurations_exist():
    assert kbuild.MATRIX_ARCHES[:len(kbuild.DEFAULT_ARCHES)] == kbuild.DEFAULT_ARCHES
    for a in ("ppc64", "mips", "riscv", "sh"):
        spec = kbuild.arch_spec(a)
        assert a in kbuild.MATRIX_ARCHES and spec.cross and spec.package
        assert spec.package == f"gcc-{spec.cross.rstrip('-')}"


def test_allyesconfig_in_the_matrix(fake):
    """The matrix's last configuration builds every driver in (allyesconfig),
    in a build directory of its own, and says so in the file's configs."""
    assert kbuild.MATRIX_ARCHES[-1] == "x86_64-yes"
    assert "x86_64-yes" not in kbuild.DEFAULT_ARCHES
    res = kbuild.verify_builds(fake["base"], fake["conv"], "6.99.0", ["drivers/a/ok.c"],
                               arches=("x86_64", "x86_64-yes"), progress=False, matrix=True)
    ok = res["drivers/a/ok.c"]
    assert ok["matrix"] == {"x86_64": "pass", "x86_64-yes": "pass"}
    assert ok["configs"][1].startswith("x86_64-yes allyesconfig (gcc ")
    assert sorted(c for c in calls(fake) if "allyesconfig" in c or "x86_64-yes:" in c
                  and c.endswith("ok.o [W=1]")) == [
        "base-x86_64-yes: allyesconfig", "base-x86_64-yes: drivers/a/ok.o [W=1]",
        "conv-x86_64-yes: allyesconfig", "conv-x86_64-yes: drivers/a/ok.o [W=1]"]


def test_missing_cross_compiler_is_a_reason_not_a_crash(fake, monkeypatch):
    monkeypatch.setitem(kbuild.ARCHES, "arm64", kbuild.Arch(
        "arm64", "arm64", "no-such-prefix-", "no-such-package"))
    res = kbuild.verify_builds(fake["base"], fake["conv"], "6.99.0", ["drivers/a/off.c"],
                               arches=("x86_64", "arm64"), progress=False)
    r = res["drivers/a/off.c"]
    assert not r["compile_tested"]
    assert "no-such-prefix-gcc not found" in r["reason"]


# ---------------------------------------------------------------------------
# real tree (DMACB_REAL=1)

REAL_TREE = ROOT / "kernel-tree"
H = "DMA_PREP_HARDIRQ_CALLBACK"
# Hand-made conversions, as the convert stage makes them (one commit each).
REAL_EDITS = {
    "drivers/spi/spi-imx.c": [
        ("rx->sgl, rx->nents, DMA_DEV_TO_MEM,\n\t\t\t\tDMA_PREP_INTERRUPT | DMA_CTRL_ACK);",
         "rx->sgl, rx->nents, DMA_DEV_TO_MEM,\n\t\t\t\tDMA_PREP_INTERRUPT | DMA_CTRL_ACK | "
         + H + ");")],
    # the second change is inside '#ifdef VERBOSE_DEBUG', which no config defines
    "drivers/crypto/atmel-aes.c": [
        ("dma->sg_len, dir,\n\t\t\t\t       DMA_PREP_INTERRUPT | DMA_CTRL_ACK);",
         "dma->sg_len, dir,\n\t\t\t\t       DMA_PREP_INTERRUPT | DMA_CTRL_ACK |\n"
         "\t\t\t\t       " + H + ");"),
        ('dev_vdbg(dd->dev, "write 0x%08x into %s\\n", value,',
         'dev_vdbg(dd->dev, "write 0x%08x to %s\\n", value,')],
    # deliberately broken: a typo in the flag name
    "drivers/spi/spi-pxa2xx-dma.c": [
        ("dir,\n\t\t\t\t       DMA_PREP_INTERRUPT | DMA_CTRL_ACK);",
         "dir,\n\t\t\t\t       DMA_PREP_INTERRUPT | DMA_CTRL_ACK | DMA_PREP_HARDIRQ_CALLBAK);")],
    # SuperH (Migo-R) only: in no allmodconfig we build
    "sound/soc/sh/siu_pcm.c": [
        ("&sg, 1, DMA_MEM_TO_DEV, DMA_PREP_INTERRUPT | DMA_CTRL_ACK);",
         "&sg, 1, DMA_MEM_TO_DEV,\n\t\tDMA_PREP_INTERRUPT | DMA_CTRL_ACK | " + H + ");")],
    # arm64 only (ARM_AMBA); the second change is in the !CONFIG_DMA_ENGINE stubs
    "drivers/tty/serial/amba-pl011.c": [
        ("dmatx->len, DMA_MEM_TO_DEV,\n\t\t\t\t\t   DMA_PREP_INTERRUPT | DMA_CTRL_ACK);",
         "dmatx->len, DMA_MEM_TO_DEV,\n\t\t\t\t\t   DMA_PREP_INTERRUPT | DMA_CTRL_ACK |\n"
         "\t\t\t\t\t   " + H + ");"),
        ("static inline int pl011_dma_rx_trigger_dma(struct uart_amba_port *uap)\n{\n"
         "\treturn -EIO;",
         "static inline int pl011_dma_rx_trigger_dma(struct uart_amba_port *uap)\n{\n"
         "\treturn -ENODEV;")],
}


@pytest.fixture(scope="session")
def real_conv():
    """A detached worktree of kernel-tree: API patches + REAL_EDITS, one commit
    per driver.  Kept in the cache between runs (made again when the edits,
    the base or kernel-tree itself change), like scripts/api_check.sh's
    worktree; remove it with `git -C kernel-tree worktree remove --force <path>`."""
    from dmacb_lib import kernel, worktree
    from dmacb_lib.util import cache_dir
    k = kernel.resolve(str(REAL_TREE))
    stamp = json.dumps([k.head, REAL_EDITS], sort_keys=True)

    def populate(wt):
        patches = sorted((ROOT / "patches" / "api" / "6.12").glob("*.patch"))
        git(wt, "am", "-q", *map(str, patches))
        for f, reps in REAL_EDITS.items():
            p = wt / f
            t = p.read_text()
            for old, new in reps:
                assert t.count(old) == 1, (f, old)
                t = t.replace(old, new)
            p.write_text(t)
            git(wt, "commit", "-q", "-m", f"{f}: hardirq callback", "--", f)
    wt = worktree.scratch_worktree(k, cache_dir() / "kbuild-realtest" / "wt", stamp, populate)
    return k, wt


@pytest.mark.real
def test_real_verify_x86_64(real_conv):
    k, wt = real_conv
    files = ["drivers/spi/spi-imx.c", "drivers/crypto/atmel-aes.c",
             "drivers/spi/spi-pxa2xx-dma.c", "sound/soc/sh/siu_pcm.c"]
    res = kbuild.verify_builds(k.path, wt, k.release, files, arches=("x86_64",),
                               tags=("base", "conv-test"), progress=False)
    imx, aes, pxa, siu = (res[f] for f in files)
    assert imx["passed"], imx
    assert imx["config"].startswith("x86_64 allmodconfig") and imx["lines_seen"] == 1
    assert aes["compile_tested"] and aes["conv_ok"] and aes["lines_unseen"] == [358], aes
    assert aes["lines_seen"] == 2
    assert pxa["base_ok"] and not pxa["conv_ok"] and not pxa["passed"]
    assert any("DMA_PREP_HARDIRQ_CALLBAK" in w for w in pxa["new_warnings"])
    assert not siu["compile_tested"] and "not built by" in siu["reason"]
    # the trap in_config exists for: make would have compiled it anyway
    bdir = kbuild.build_dir(k.release, "x86_64", "base")
    assert kbuild.in_config(bdir, ["sound/soc/sh/siu_pcm.c", "drivers/spi/spi-imx.c"]) == {
        "sound/soc/sh/siu_pcm.c": False, "drivers/spi/spi-imx.c": True}


@pytest.mark.real
def test_real_verify_arm64_fallback(real_conv):
    k, wt = real_conv
    f = "drivers/tty/serial/amba-pl011.c"
    res = kbuild.verify_builds(k.path, wt, k.release, [f], arches=("x86_64", "arm64"),
                               tags=("base", "conv-test"), progress=False)[f]
    assert res["arch"] == "arm64" and res["compile_tested"], res
    assert res["base_ok"] and res["conv_ok"] and res["new_warnings"] == []
    assert res["lines_seen"] == 2 and len(res["lines_unseen"]) == 1
