# SPDX-License-Identifier: GPL-2.0
"""Golden tests for the rewrite scripts cocci/dma_callback_to_completion.cocci
and cocci/dma_callback_hardirq_flag.cocci.

Each case in tests/fixtures/convert/ is an input NAME.c and the expected
output NAME.expected.c; a case with no NAME.expected.c must leave its input
unchanged, and a case listed in INPUT reads another case's input.  The scripts listed for the case run one after the
other on a temporary copy (from a temporary directory, never inside a
kernel tree); the result must equal the expected file byte for byte, and a
second run on the result must change nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "convert"
COMPLETION = ROOT / "cocci" / "dma_callback_to_completion.cocci"
HARDIRQ = ROOT / "cocci" / "dma_callback_hardirq_flag.cocci"

# case -> list of (script, extra -D options); applied in order
CASES: dict[str, list[tuple[Path, list[str]]]] = {
    "complete_param": [(COMPLETION, ["cb=foo_dma_done"])],
    "complete_cast": [(COMPLETION, ["cb=bar_rx_done"])],
    "complete_direct": [(COMPLETION, ["cb=baz_dma_complete"])],
    "complete_used_twice": [(COMPLETION, ["cb=qux_dma_done"])],
    "complete_fwd_decl": [(COMPLETION, ["cb=zed_tx_done"])],
    "complete_hidden_use": [(COMPLETION, ["cb=foo_dma_done"])],
    "complete_completion_local": [(COMPLETION, ["cb=nfc_dma_finished"]),
                                  (COMPLETION, ["cb=nfc_dma_done2"])],
    "hardirq_single": [(HARDIRQ, ["cb=up_dma_rx_done"])],
    "task_single": [(HARDIRQ, ["cb=up_dma_rx_done", "task"])],
    "hardirq_local_flags": [(HARDIRQ, ["cb=mh_dma_done"])],
    "hardirq_reassigned": [(HARDIRQ, ["cb=pio_dma_done"])],
    "already_converted": [(COMPLETION, ["cb=ac_rx_done"]),
                          (HARDIRQ, ["cb=ac_rx_done"]),
                          (HARDIRQ, ["cb=ac_rx_done", "task"])],
    "no_match": [(COMPLETION, ["cb=nm_dma_done"]),
                 (COMPLETION, ["cb=nm_dma_done2"]),
                 (HARDIRQ, ["cb=nm_dma_done"])],
}

# cases that run on another case's input (same driver, other options)
INPUT = {"task_single": "hardirq_single"}

pytestmark = pytest.mark.skipif(shutil.which("spatch") is None,
                                reason="spatch (Coccinelle) not installed")


def run_spatch(script: Path, defines: list[str], src: Path, workdir: Path) -> str:
    """Run one script in patch mode on src in place, return the new text."""
    cmd = ["spatch", "--sp-file", str(script), "-D", "patch"]
    for d in defines:
        cmd += ["-D", d]
    cmd += ["--very-quiet", "--in-place", str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir,
                          timeout=60)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return src.read_text()


def convert(case: str, text: str, workdir: Path) -> str:
    src = workdir / f"{case}.c"
    src.write_text(text)
    for script, defines in CASES[case]:
        text = run_spatch(script, defines, src, workdir)
    return text


def test_every_fixture_has_a_case():
    inputs = {p.name[:-2] for p in FIX.glob("*.c") if not p.name.endswith(".expected.c")}
    expected = {p.name[:-len(".expected.c")] for p in FIX.glob("*.expected.c")}
    assert inputs | set(INPUT) == set(CASES)
    assert expected <= set(CASES)
    assert set(INPUT.values()) <= inputs


@pytest.mark.parametrize("case", sorted(CASES))
def test_convert_golden_and_idempotent(case: str, tmp_path: Path):
    src = (FIX / f"{INPUT.get(case, case)}.c").read_text()
    exp = FIX / f"{case}.expected.c"
    want = exp.read_text() if exp.exists() else src
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()

    got = convert(case, src, first)
    assert got == want

    again = convert(case, got, second)
    assert again == got, "second run changed the output (not idempotent)"
