# SPDX-License-Identifier: GPL-2.0
# dmacb: thin wrappers around scripts/dmacb (all logic lives there).
#
#   make audit                 audit the default tree (kernel-tree, 6.12)
#   make audit KVER=6.1        ... the 6.1 tree (kernel-tree-6.1)
#   make audit KERNEL=~/linux  ... your own git checkout (never modified)
#   make convert               branch dmacb/<release> with one commit per driver
#   make verify                compile-test and check every converted driver
#   make verify LLVM=1         ... compile-testing with clang
#   make series                all of it: audit, convert, verify, parity, series
#                              (reports in ~/.local/share/dmacb/reports/<release>/, or OUT=)
#   make check                 the test suite (fixtures; no kernel tree needed)
#   make check-reports         regenerate the committed references in reports/ and diff
#   make check-farm            the farm: the audit over GNU parallel --sshlogin, verify's
#                              compiles over distcc (sshd and distccd on loopback)
#   make api-check             the kernel patches on both trees: checkpatch, W=1 drivers/dma/
#                              on x86_64, arm64 and arm (API_ARCHES=), KUnit

DMACB   := scripts/dmacb
KERNEL  ?=
KVER    ?=
# the cross allmodconfigs api-check also builds drivers/dma/ in (empty: x86_64 only)
API_ARCHES ?= arm64 arm
OUT     ?=
export KERNEL KVER
ifneq ($(OUT),)
export DMACB_OUT := $(OUT)
endif

.PHONY: all deps kernel-tree audit convert verify parity series api-check \
	check check-python check-c check-reports check-real check-farm bench bench-convert bench-verify \
	bench-rerun bench-farm clean help

all: audit

help:
	@sed -n '2,15p' Makefile | sed 's/^# \{0,1\}//'

deps:
	$(DMACB) deps

# Real runs need the tree; KERNEL= users bring their own.
kernel-tree:
	$(DMACB) kernel-tree

audit:
	@if [ -z "$(KERNEL)" ]; then $(DMACB) kernel-tree; fi
	$(DMACB) audit

convert:
	@if [ -z "$(KERNEL)" ]; then $(DMACB) kernel-tree $(if $(KVER),--kver $(KVER)); fi
	$(DMACB) convert

verify:
	$(DMACB) verify $(if $(filter 1,$(LLVM)),--llvm)

parity:
	$(DMACB) parity

# The main job from a fresh machine: tree, audit + convert, verify, parity,
# series.  A driver failing verify is left out of the series, not an error
# here; the parity of the two contract engines must hold.
series:
	@if [ -z "$(KERNEL)" ]; then $(DMACB) kernel-tree; fi
	$(DMACB) convert
	$(DMACB) verify || [ $$? -eq 1 ]
	$(DMACB) parity
	$(DMACB) series

api-check:
	scripts/api_check.sh --arch "$(API_ARCHES)" $(KERNEL)

check: check-python check-c

check-python:
	$(DMACB) deps >/dev/null
	/usr/bin/python3 -m pytest -q tests

check-c:
	$(MAKE) -C checker test

# Regenerate the committed reference reports of both Debian trees (every
# stage, reproducible dates) and diff them with the committed ones.
check-reports:
	$(DMACB) kernel-tree
	$(DMACB) kernel-tree --kver 6.1
	/usr/bin/python3 scripts/check_reports.py

# Real-tree tests (6.12 Debian tree): slower, not part of 'make check'.
check-real:
	$(DMACB) kernel-tree
	DMACB_REAL=1 /usr/bin/python3 -m pytest -q tests -m real

# The farm (--hosts): the audit through two sshd daemons on 127.0.0.2 and
# 127.0.0.3, verify's compiles through distccd daemons on 127.0.0.2-4, all
# started and stopped by the tests; verify's needs the 6.12 tree.  Not part
# of 'make check'.
check-farm:
	$(DMACB) deps --farm >/dev/null
	$(DMACB) kernel-tree
	DMACB_FARM=1 /usr/bin/python3 -m pytest -q tests -m farm

# verify over 0, 1 and 2 local distccd hosts: wall, CPU, bytes, verdicts
bench-farm:
	$(DMACB) deps --farm >/dev/null
	$(DMACB) kernel-tree
	/usr/bin/python3 scripts/bench_farm.py

bench-convert:
	/usr/bin/python3 scripts/bench_convert.py

bench-verify:
	/usr/bin/python3 scripts/bench_verify.py --stage $(if $(filter 1,$(LLVM)),--llvm)

# make series again on a clone: unchanged, and after a 5-file stable update
bench-rerun:
	/usr/bin/python3 scripts/bench_rerun.py

bench:
	@if [ -z "$(KERNEL)" ]; then $(DMACB) kernel-tree; fi
	/usr/bin/python3 scripts/bench_audit.py

clean:
	$(MAKE) -C checker clean
