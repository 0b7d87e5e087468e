# SPDX-License-Identifier: GPL-2.0
"""The providers audit on the fixture providers (tests/fixtures/providers):
every column, the serving of the fixture clients, the join with a
callbacks.json, the stage file, the cache.

Each registering fixture carries a 'dmacb-provider-expect:' line with the
value of every column; the other tests pin one rule each (the evidence it
must give, the chain, the file roles).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, git_tree, run_dmacb

FIXTURE = ROOT / "tests" / "fixtures" / "providers"
CALLBACKS = ROOT / "tests" / "fixtures" / "providers-callbacks.json"
REL = "6.98.0-providers"
EXPECT = re.compile(r"dmacb-provider-expect: (.*?) \*/")

pytestmark = pytest.mark.skipif(shutil.which("spatch") is None, reason="needs spatch")


def expectations() -> list:
    out = []
    for p in sorted(FIXTURE.rglob("*.c")):
        for m in EXPECT.finditer(p.read_text()):
            vals = dict(kv.split("=", 1) for kv in m.group(1).split())
            out.append(pytest.param(str(p.relative_to(FIXTURE)), vals,
                                    id=p.relative_to(FIXTURE).stem))
    return out


@pytest.fixture(scope="module")
def prov(tmp_path_factory):
    base = tmp_path_factory.mktemp("prov")
    tree = git_tree(FIXTURE, base / "linux")
    out = base / "reports"
    r = run_dmacb("providers", "--kernel", str(tree), "--out", str(out), "--callbacks",
                  str(CALLBACKS), cache=base / "cache")
    assert r.returncode == 0, r.stderr
    raw = (out / REL / "providers.json").read_bytes()
    doc = json.loads(raw)
    return {"tree": tree, "out": out / REL, "doc": doc, "doc_bytes": raw, "base": base, "stderr": r.stderr,
            "by_id": {p["id"]: p for p in doc["providers"]}}


def test_expectations_cover_every_provider(prov):
    assert len(expectations()) == 7
    assert {e.values[0] for e in expectations()} == set(prov["by_id"])


def test_every_caller_of_the_register_functions_is_a_provider(prov):
    # dmaengine.h/virt-dma.h are the core; the clients register nothing
    assert sorted(prov["by_id"]) == [
        "drivers/dma/fx-base.c", "drivers/dma/fx-bh.c", "drivers/dma/fx-direct.c",
        "drivers/dma/fx-tasklet.c",
        "drivers/dma/fx-thread.c", "drivers/dma/fx-vchan.c", "drivers/dma/fxlib/fx-lib-core.c"]
    assert prov["doc"]["counts"]["providers"] == 7


@pytest.mark.parametrize("pid,want", expectations())
def test_columns(prov, pid, want):
    p = prov["by_id"][pid]
    d = p["delivery"]
    assert d["method"] == want["delivery"], d
    assert ",".join(d["completes_from"]) == want["completes"], d["complete_sites"]
    assert ",".join(d["delivers_from"]) == want["delivers"], d["deliver_sites"]
    assert p["prep_flags"]["value"] == want["prep_flags"], p["prep_flags"]
    assert p["recycles"]["value"] == want["recycles"], p["recycles"]
    assert p["bare_completion"]["value"] == want["bare"], p["bare_completion"]
    assert p["bare_completion"]["value_noncyclic"] == want["bare_noncyclic"]
    tl = ",".join(f"{t['function']}:{t['kind']}" for t in p["tasklets"]) or "-"
    assert tl == want["tasklets"], p["tasklets"]


def test_family_library_and_glue(prov):
    p = prov["by_id"]["drivers/dma/fxlib/fx-lib-core.c"]
    roles = {f["file"]: f["role"] for f in p["files"]}
    assert roles == {"drivers/dma/fxlib/fx-lib-core.c": "register",
                     "drivers/dma/fxlib/fx-lib-desc.c": "library",
                     "drivers/dma/fxlib/fx-lib-plat.c": "glue"}
    # the glue's devicetree table belongs to the provider
    assert p["compatibles"] == ["fx,lib-dma"]


def test_hardirq_chain_is_evidence(prov):
    d = prov["by_id"]["drivers/dma/fx-vchan.c"]["delivery"]
    site = d["complete_sites"][0]
    assert site["call"] == "vchan_cookie_complete"
    ctx = site["contexts"][0]
    assert (ctx["context"], ctx["function"], ctx["registered"]) == \
        ("hardirq", "fxv_irq", "devm_request_irq() handler")
    assert re.fullmatch(r"drivers/dma/fx-vchan\.c:\d+", ctx["at"])


def test_thread_function_is_not_the_hard_handler(prov):
    d = prov["by_id"]["drivers/dma/fx-thread.c"]["delivery"]
    ctx = d["deliver_sites"][0]["contexts"]
    assert [(c["context"], c["function"]) for c in ctx] == [("threaded-irq", "fxh_thread")]


def test_tasklet_chain_from_the_irq(prov):
    d = prov["by_id"]["drivers/dma/fx-tasklet.c"]["delivery"]
    assert d["deliver_sites"][0]["contexts"][0]["function"] == "fxt_tasklet"


def test_client_call_context(prov):
    d = prov["by_id"]["drivers/dma/fxlib/fx-lib-core.c"]["delivery"]
    ctx = {(c["context"], c.get("detail", "")) for s in d["deliver_sites"]
           for c in s["contexts"]}
    assert ("client-call", "device_tx_status") in ctx
    chain = next(c["chain"] for s in d["deliver_sites"] for c in s["contexts"]
                 if c["context"] == "client-call")
    assert any("fxl_tx_status() calls fxl_cleanup()" in x for x in chain)


def test_direct_call_bypasses_the_helpers(prov):
    b = prov["by_id"]["drivers/dma/fx-direct.c"]["bare_completion"]
    assert [(e["kind"], e["function"]) for e in b["evidence"]] == \
        [("direct", "fxd_work"), ("direct", "fxd_terminate_all")]
    assert "a copy of ->callback" in b["evidence"][0]["what"]
    assert "calls ->callback() itself" in b["evidence"][1]["what"]


def test_guard_on_the_callback_field(prov):
    b = prov["by_id"]["drivers/dma/fx-thread.c"]["bare_completion"]
    assert [(e["kind"], e["function"]) for e in b["evidence"]] == [("guard", "fxh_thread")]


def test_callback_copied_into_chained_descriptors(prov):
    cyc = prov["by_id"]["drivers/dma/fx-tasklet.c"]["bare_completion"]["evidence"]
    assert {(e["kind"], e["path"]) for e in cyc} == {("copy", "cyclic")}
    chained = prov["by_id"]["drivers/dma/fxlib/fx-lib-core.c"]["bare_completion"]["evidence"]
    assert {e["kind"] for e in chained} == {"copy"}
    assert all(e["path"] != "cyclic" for e in chained)


def test_prep_flag_sinks(prov):
    def sinks(pid):
        return [(s["kind"], s["store"]) for x in prov["by_id"][pid]["prep_flags"]["preps"]
                for s in x["sinks"]]
    assert sinks("drivers/dma/fx-vchan.c") == [("full", "vchan_tx_prep(..., flags)")]
    assert ("replacing", "->flags = DMA_CTRL_ACK") in sinks("drivers/dma/fx-tasklet.c")
    assert sinks("drivers/dma/fx-thread.c") == [("masked", "->flags = flags & DMA_PREP_INTERRUPT")]
    # through the library's parameter
    lib = prov["by_id"]["drivers/dma/fxlib/fx-lib-core.c"]["prep_flags"]["preps"][0]["sinks"]
    assert lib[0]["path"] == ["fxl_prep_slave_sg", "fxl_desc_get"]


def test_recycling_evidence(prov):
    pool = prov["by_id"]["drivers/dma/fx-tasklet.c"]["recycles"]["preps"]
    assert all(x["verdict"] == "yes" for x in pool)
    assert "fxt_alloc_chan_resources" in pool[0]["why"]
    free = prov["by_id"]["drivers/dma/fx-direct.c"]["recycles"]["preps"][0]
    assert "return before" in free["why"]


def test_tasklet_roles(prov):
    t = prov["by_id"]["drivers/dma/fx-tasklet.c"]["tasklets"][0]
    assert t["roles"] == ["callback-delivery", "starts-next-transfer"]
    e = prov["by_id"]["drivers/dma/fx-thread.c"]["tasklets"][0]
    assert e["roles"] == ["error-recovery"]


def test_unparsed_function_reported_and_read_from_the_text(prov):
    p = prov["by_id"]["drivers/dma/fx-base.c"]
    assert [u["function"] for u in p["unparsed_functions"]] == ["fxb_irq"]
    site = p["delivery"]["deliver_sites"][0]
    assert site["function"] == "fxb_irq" and site["parsed"] is False
    assert p["bare_completion"]["value"] == "unknown"


def test_type_from_a_header_under_include(prov):
    # d->async_tx is typed by spatch (the header forced in), not by the text
    p = prov["by_id"]["drivers/dma/fx-base.c"]
    assert p["type_gaps"] == []
    assert p["prep_flags"]["preps"][0]["sinks"][0]["kind"] == "full"


def test_serving(prov):
    cl = {c["file"]: c for c in prov["doc"]["clients"]}
    assert (cl["drivers/spi/spi-fx.c"]["basis"], cl["drivers/spi/spi-fx.c"]["providers"]) == \
        ("devicetree", ["drivers/dma/fx-vchan.c"])
    assert cl["drivers/spi/spi-fx.c"]["devicetree"][0]["controllers"] == ["dmac"]
    assert (cl["drivers/tty/fx-uart.c"]["basis"], cl["drivers/tty/fx-uart.c"]["providers"]) == \
        ("probe", ["drivers/dma/fx-tasklet.c"])
    # ARCH_FXB is mips: not fx-vchan (arm); not the memcpy-only fx-direct;
    # not fx-base (no lookup by name: the client asks by name)
    assert (cl["drivers/mmc/fx-mmc.c"]["basis"], cl["drivers/mmc/fx-mmc.c"]["providers"]) == \
        ("kconfig", ["drivers/dma/fx-thread.c", "drivers/dma/fxlib/fx-lib-core.c"])


def test_join_with_the_client_callbacks(prov):
    cbs = {c["callback"]: c for c in prov["doc"]["callbacks"]}
    assert cbs["fxspi_dma_done"]["completion_signalled"] is True
    assert cbs["fxuart_tx_done"]["completion_signalled"] is True      # not cyclic
    assert cbs["fxuart_tx_done"]["flag_reaches_tx"] == "none"
    assert cbs["fxmmc_dma_done"]["completion_signalled"] is False
    assert {r["provider"]: r["completion"] for r in cbs["fxmmc_dma_done"]["providers"]} == \
        {"fx-thread": "never", "fxlib/fx-lib-core": "some-paths"}


def test_stage_file_format_and_csv(prov):
    assert prov["doc"]["format"] == "dmacb-providers/1"
    rows = list(csv.DictReader((prov["out"] / "providers.csv").open()))
    assert [r["provider"] for r in rows] == sorted(r["provider"] for r in rows)
    assert {r["provider"]: r["delivery"] for r in rows}["fx-thread"] == "threaded-irq"
    md = (prov["out"] / "providers.md").read_text()
    assert "fx-thread" in md and "Functions spatch could not parse" in md


def test_api_for_rule_8(prov):
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    import os
    os.environ["DMACB_CACHE"] = str(prov["base"] / "cache")
    from dmacb_lib import kernel, providers
    k = kernel.resolve(str(prov["tree"]))
    res = providers.audit(k)
    ok, why = providers.completion_ok(k, "drivers/mmc/fx-mmc.c", result=res)
    assert ok is False and {w["provider"] for w in why} == {"fx-thread", "fxlib/fx-lib-core"}
    assert providers.completion_ok(k, "drivers/spi/spi-fx.c", result=res)[0] is True
    si = providers.serving(k, ["drivers/tty/fx-uart.c"], res)["drivers/tty/fx-uart.c"]
    assert si.basis == "probe"
    b = providers.bare_completion(res, "drivers/dma/fx-tasklet.c", cyclic=True)
    assert b["value"] == "some-paths"


def test_unchanged_rerun_is_cached_and_identical(prov):
    before = {n: (prov["out"] / n).read_bytes() for n in
              ("providers.json", "providers.csv", "providers.md")}
    r = run_dmacb("providers", "--kernel", str(prov["tree"]), "--out",
                  str(prov["out"].parent), "--callbacks", str(CALLBACKS),
                  cache=prov["base"] / "cache")
    assert r.returncode == 0, r.stderr
    assert "unchanged" in r.stderr
    assert before == {n: (prov["out"] / n).read_bytes() for n in before}


def test_project_reports_untouched(prov):
    st = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "reports"],
                        capture_output=True, text=True)
    assert st.stdout == ""


def test_output_does_not_follow_string_hashing(prov, tmp_path):
    """fx-lib's prep calls more library functions than the five links the
    audit lists per file: which five, and in which order, must not depend on
    PYTHONHASHSEED (it did: the 6.1.192 reference changed from run to run)."""
    docs = []
    for seed in ("1", "2", "3", "4"):
        r = run_dmacb("providers", "--kernel", str(prov["tree"]), "--out",
                      str(tmp_path / seed), "--callbacks", str(CALLBACKS), "--no-cache",
                      cache=tmp_path / f"cache{seed}", env_extra={"PYTHONHASHSEED": seed})
        assert r.returncode == 0, r.stderr
        docs.append((tmp_path / seed / REL / "providers.json").read_bytes())
    assert docs[0] == prov["doc_bytes"]
    assert all(d == docs[0] for d in docs)
    lib = [f for f in prov["by_id"]["drivers/dma/fxlib/fx-lib-core.c"]["files"]
           if f["role"] == "library"][0]
    assert len(lib["why"]) == 5


def test_stable_update_reuses_the_ancestors_result(tmp_path, monkeypatch):
    """A commit that changes only client .c files outside the providers'
    directories, naming neither a register call nor an exported provider
    function, keeps its ancestor's result (no audit run); any other change
    runs the audit."""
    from dmacb_lib import kernel
    from dmacb_lib.providers import main
    monkeypatch.setenv("DMACB_CACHE", str(tmp_path / "cache"))
    tree = git_tree(FIXTURE, tmp_path / "linux")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def commit(path: str, text: str):
        p = tree / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        subprocess.run(["git", "-C", str(tree), "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", str(tree), "commit", "-q", "-m", path], check=True, env=env)
        return kernel.resolve(str(tree))

    first = main.audit(kernel.resolve(str(tree)), 2, True, True)
    assert "fxt_filter" in first.glue_names
    k = commit("drivers/misc/client-a.c", "static int a;\n")
    assert main._from_ancestor(k).providers == first.providers
    monkeypatch.setattr(main, "_audit", lambda *a, **kw: pytest.fail("the audit ran"))
    got = main.audit(k, 2, True, True)
    assert got.commit == k.head and got.providers == first.providers
    monkeypatch.undo()
    monkeypatch.setenv("DMACB_CACHE", str(tmp_path / "cache"))
    for path, text in (
            ("drivers/misc/client-b.c", "void f(void) { dma_async_device_register(0); }\n"),
            ("drivers/misc/client-c.c", "void *g = fxt_filter;\n"),
            ("drivers/dma/fx-new.c", "static int b;\n"),
            ("drivers/misc/client-d.h", "static int d;\n")):
        k = commit(path, text)
        assert main._from_ancestor(k) is None, path
        subprocess.run(["git", "-C", str(tree), "reset", "-q", "--hard", "HEAD^"], check=True)


def test_serving_remembered_per_commit(tmp_path, monkeypatch):
    """Who may serve a client, asked again by another process on the same
    clean commit, comes from the cache (no serve() run) and equals what
    serve() gave; an uncommitted change is served afresh."""
    from dmacb_lib import kernel
    from dmacb_lib.providers import main, serve
    monkeypatch.setenv("DMACB_CACHE", str(tmp_path / "cache"))
    tree = git_tree(FIXTURE, tmp_path / "linux")
    files = ["drivers/spi/spi-fx.c", "drivers/tty/fx-uart.c", "drivers/mmc/fx-mmc.c"]
    k = kernel.resolve(str(tree))
    first = main.serving(k, files, main.audit(k, 2, True, True))
    assert first["drivers/spi/spi-fx.c"].dt_nodes
    k = kernel.resolve(str(tree))            # "another process"
    res = main.audit(k, 2, True, True)
    assert not res._served
    real = serve.Server.serve
    monkeypatch.setattr(serve.Server, "serve", lambda *a: pytest.fail("served again"))
    again = main.serving(k, files, res)
    # the same, down to the order of keys the reports write
    assert [json.dumps(again[f].to_json()) for f in files] == \
        [json.dumps(first[f].to_json()) for f in files]
    (tree / "drivers" / "spi" / "spi-fx.c").write_text("/* edited */\n")
    k = kernel.resolve(str(tree))
    ran = []
    monkeypatch.setattr(serve.Server, "serve", lambda self, fs: ran.append(fs) or real(self, fs))
    main.serving(k, files[:1], main.audit(k, 2, True, True))
    assert ran == [files[:1]]


def test_stable_update_reuses_the_ancestors_serving(tmp_path, monkeypatch):
    """After a change to one client the ancestor's serving holds for the
    clients of other directories; the changed one is served again."""
    from dmacb_lib import kernel
    from dmacb_lib.providers import main, serve
    monkeypatch.setenv("DMACB_CACHE", str(tmp_path / "cache"))
    tree = git_tree(FIXTURE, tmp_path / "linux")
    files = ["drivers/spi/spi-fx.c", "drivers/tty/fx-uart.c", "drivers/mmc/fx-mmc.c"]
    k = kernel.resolve(str(tree))
    first = main.serving(k, files, main.audit(k, 2, True, True))
    p = tree / "drivers" / "mmc" / "fx-mmc.c"
    p.write_text(p.read_text() + "/* a stable fix */\n")
    subprocess.run(["git", "-C", str(tree), "commit", "-q", "-am", "fix"], check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    k = kernel.resolve(str(tree))
    res = main.audit(k, 2, True, True)
    assert res._ancestor
    ran = []
    real = serve.Server.serve
    monkeypatch.setattr(serve.Server, "serve", lambda self, fs: ran.append(fs) or real(self, fs))
    assert main.serving(k, files, res) == first
    assert ran == [["drivers/mmc/fx-mmc.c"]]
