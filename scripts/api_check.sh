#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# api_check.sh - apply, check, build and test the dmaengine helper API
# patches (patches/api/) on one or more kernel trees.
#
# usage: scripts/api_check.sh [--no-build] [--no-kunit] [--arch "ARCH..."] [KERNEL_TREE...]
#
# Default trees: kernel-tree and kernel-tree-6.1 next to this script's
# project root, when present. For each tree this script
#   1. creates a fresh detached worktree of the tree's HEAD in
#      ${DMACB_CACHE:-$HOME/.cache/dmacb}/api/<release>/src (the tree itself is
#      only ever used through `git worktree add` and the removal of this
#      script's own worktree of a previous run),
#   2. builds drivers/dma/ with W=1 on x86_64 allmodconfig (CONFIG_WERROR
#      off, so that all warnings are seen) to record the base warnings
#      (cached per base commit; build dirs are kept and reused, with file
#      times set so that only what the patches change is rebuilt),
#   3. `git am`s patches/api/<major.minor>/ (falling back to patches/api/6.12/),
#   4. runs scripts/checkpatch.pl --strict on every patch,
#   5. rebuilds drivers/dma/ with W=1 and fails on any new warning or error,
#      and checks that the KUnit object is a module of this config
#      (drivers/dma/modules.order), i.e. really compiled, not just built,
#   6. runs the KUnit suite on UML (tools/testing/kunit/kunit.py), and prints
#      the lines of the kernel log that start with "dmaengine-latency:" (the
#      latency table of patches/api/README.md).
# With --arch "arm64 arm" (or DMACB_API_ARCHES) step 5 is also done in
# those allmodconfigs (cross gcc), for all of drivers/dma/ and the KUnit
# object, against an unpatched worktree of the same base (step
# "build-<arch>"; every object the base builds must build patched).
# A series may add an executable <patch root>/tree-check: it is run in the
# patched worktree after `git am` (step "tree-check", after checkpatch).
# Every step prints one PASS/FAIL line; the exit status is non-zero if any
# step failed. Environment: DMACB_CACHE, DMACB_PATCHES (default: patches/api),
# DMACB_JOBS (default: nproc),
# DMACB_PYTHON (default: /usr/bin/python3).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PATCH_ROOT=${DMACB_PATCHES:-$ROOT/patches/api}
KUNITCONFIG=$PATCH_ROOT/dmaengine-callback.kunitconfig
CACHE_ROOT=${DMACB_CACHE:-$HOME/.cache/dmacb}/api
JOBS=${DMACB_JOBS:-$(nproc)}
PYTHON=${DMACB_PYTHON:-/usr/bin/python3}
BUILD_TARGETS=(drivers/dma/)
KUNIT_OBJ=drivers/dma/dmaengine_callback_kunit.o

# git identity for `git am` in our own worktrees only
export GIT_COMMITTER_NAME=${GIT_COMMITTER_NAME:-dmacb}
export GIT_COMMITTER_EMAIL=${GIT_COMMITTER_EMAIL:-dmacb@localhost}

do_build=1
do_kunit=1
arches=${DMACB_API_ARCHES:-}
trees=()

usage() {
	sed -n 's/^# \{0,1\}//; 4,7p' "${BASH_SOURCE[0]}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--no-build) do_build=0 ;;
	--no-kunit) do_kunit=0 ;;
	--arch) shift; arches=${1:-} ;;
	-h|--help) usage; exit 0 ;;
	--) shift; trees+=("$@"); break ;;
	-*) echo "api_check: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) trees+=("$1") ;;
	esac
	shift
done

if [ ${#trees[@]} -eq 0 ]; then
	for t in "$ROOT/kernel-tree" "$ROOT/kernel-tree-6.1"; do
		[ -e "$t" ] && trees+=("$t")
	done
	if [ ${#trees[@]} -eq 0 ]; then
		echo "FAIL api_check: no kernel tree given and none found in $ROOT" >&2
		exit 2
	fi
fi

failures=0
step_start=0

pass() { printf 'PASS %-10s %-12s %s (%ds)\n' "$rel" "$1" "${2:-}" $((SECONDS - step_start)); }
fail() { printf 'FAIL %-10s %-12s %s (%ds)\n' "$rel" "$1" "${2:-}" $((SECONDS - step_start)); failures=$((failures + 1)); }
start() { step_start=$SECONDS; }

# warnings/errors of a build log, without paths, line numbers and columns
warnings() {
	grep -E '(warning|error):' "$1" |
		sed -E "s#$2/##g; s#^([^:]*):[0-9]+(:[0-9]+)?:#\\1:#" |
		sort -u || true
}

configure() {	# configure <src> <build>
	make -s -C "$1" O="$2" allmodconfig >/dev/null &&
		"$1/scripts/config" --file "$2/.config" --disable WERROR &&
		make -s -C "$1" O="$2" olddefconfig >/dev/null &&
		make -s -C "$1" O="$2" -j"$JOBS" modules_prepare >/dev/null
}

cross_of() {	# the CROSS_COMPILE prefix of an arch (as kbuild.py has them)
	case $1 in
	arm64) echo aarch64-linux-gnu- ;;
	arm) echo arm-linux-gnueabihf- ;;
	*) return 1 ;;
	esac
}

configure_cross() {	# configure_cross <src> <build> <arch>
	local cc
	cc=$(cross_of "$3") || return 1
	make -s -C "$1" O="$2" ARCH="$3" CROSS_COMPILE="$cc" allmodconfig >/dev/null &&
		"$1/scripts/config" --file "$2/.config" --disable WERROR &&
		make -s -C "$1" O="$2" ARCH="$3" CROSS_COMPILE="$cc" olddefconfig >/dev/null &&
		make -s -C "$1" O="$2" ARCH="$3" CROSS_COMPILE="$cc" -j"$JOBS" modules_prepare >/dev/null
}

build_cross() {	# build_cross <src> <build> <arch> <log> <objects...>
	local src=$1 b=$2 arch=$3 log=$4
	shift 4
	make -C "$src" O="$b" ARCH="$arch" CROSS_COMPILE="$(cross_of "$arch")" -k -j"$JOBS" \
		W=1 "$@" >"$log" 2>&1 || true
}

check_cross() {	# check_cross <top> <head> <dir> <wt> <arch>
	local top=$1 head=$2 dir=$3 wt=$4 arch=$5 bwt=$3/src-base
	local bb=$3/build-$5-base pb=$3/build-$5 objs=() built=0 o new
	start
	if ! cross_of "$arch" >/dev/null; then
		fail "build-$arch" "unknown arch (arm64 or arm)"
		return
	fi
	if [ "$(git -C "$bwt" rev-parse HEAD 2>/dev/null)" != "$head" ]; then
		rm -rf "$bwt" "$bb" "$pb"
		git -C "$top" worktree prune
		if ! git -C "$top" worktree add -q -f --detach "$bwt" "$head" 2>"$dir/worktree-base.log"; then
			fail "build-$arch" "git worktree add of the base failed, see $dir/worktree-base.log"
			return
		fi
		(cd "$bwt" && git ls-files -z | xargs -0 touch -h -c -d "@$(git log -1 --format=%ct HEAD)")
	fi
	for pair in "$bwt:$bb" "$wt:$pb"; do
		if [ ! -f "${pair#*:}/.dmacb-prepared" ]; then
			rm -rf "${pair#*:}"
			if ! configure_cross "${pair%%:*}" "${pair#*:}" "$arch"; then
				fail "build-$arch" "allmodconfig/modules_prepare failed in ${pair#*:}"
				return
			fi
			touch "${pair#*:}/.dmacb-prepared"
		fi
	done
	# all of drivers/dma/, as on x86_64: the series changes dmaengine.h and
	# virt-dma.h, which every provider includes.  Compiled again each run,
	# so that both logs hold their warnings.
	rm -rf "$bb/drivers/dma" "$pb/drivers/dma"
	build_cross "$bwt" "$bb" "$arch" "$dir/build-$arch-base.log" drivers/dma/
	build_cross "$wt" "$pb" "$arch" "$dir/build-$arch.log" drivers/dma/ "$KUNIT_OBJ"
	mapfile -t objs < <(cd "$bb" && find drivers/dma -name '*.o' ! -name '*.mod.o' | sort)
	# an object the base builds must build patched (qcom_adm.c is built by
	# neither on arm64: !PHYS_ADDR_T_64BIT)
	local lost=()
	for o in "${objs[@]}"; do
		if [ -f "$pb/$o" ]; then
			built=$((built + 1))
		else
			lost+=("$o")
		fi
	done
	new=$(comm -13 <(warnings "$dir/build-$arch-base.log" "$bwt") \
		<(warnings "$dir/build-$arch.log" "$wt"))
	if [ -n "$new" ]; then
		fail "build-$arch" "new warnings with W=1, see $dir/build-$arch.log:"
		printf '     %s\n' "$new"
	elif [ ${#lost[@]} -gt 0 ]; then
		fail "build-$arch" "${lost[*]} build(s) before the patches but not after, see $dir/build-$arch.log"
	elif [ ! -f "$pb/$KUNIT_OBJ" ]; then
		fail "build-$arch" "$KUNIT_OBJ was not built, see $dir/build-$arch.log"
	else
		pass "build-$arch" "W=1 drivers/dma/: the $built objects the base builds and $KUNIT_OBJ, no new warnings"
	fi
}

build() {	# build <src> <build> <log> [extra targets]
	local src=$1 b=$2 log=$3
	shift 3
	make -C "$src" O="$b" -k -j"$JOBS" W=1 "${BUILD_TARGETS[@]}" "$@" >"$log" 2>&1
}

check_tree() {
	local tree=$1 top head makefile version patchlevel sublevel series
	local dir wt b base_log log patches p cp_bad new admin kc
	rel=$(basename "$tree")
	start

	if [ ! -d "$tree" ]; then
		fail setup "$tree: no such directory"
		return
	fi
	if ! top=$(git -C "$tree" rev-parse --show-toplevel 2>/dev/null); then
		fail setup "$tree: not a git tree"
		return
	fi
	if ! head=$(git -C "$top" rev-parse --verify -q HEAD^{commit}); then
		fail setup "$tree: git tree without a HEAD commit"
		return
	fi
	if ! makefile=$(git -C "$top" show HEAD:Makefile 2>/dev/null); then
		fail setup "$tree: no top-level Makefile at HEAD, not a kernel tree"
		return
	fi
	version=$(sed -n 's/^VERSION = //p' <<<"$makefile" | head -1)
	patchlevel=$(sed -n 's/^PATCHLEVEL = //p' <<<"$makefile" | head -1)
	sublevel=$(sed -n 's/^SUBLEVEL = //p' <<<"$makefile" | head -1)
	if [ -z "$version" ] || [ -z "$patchlevel" ]; then
		fail setup "$tree: cannot read the kernel version from its Makefile"
		return
	fi
	rel=$version.$patchlevel.${sublevel:-0}

	series=$PATCH_ROOT/$version.$patchlevel
	compgen -G "$series/*.patch" >/dev/null || series=$PATCH_ROOT/6.12
	mapfile -t patches < <(ls "$series"/*.patch 2>/dev/null)
	if [ ${#patches[@]} -eq 0 ]; then
		fail setup "no patches in $series"
		return
	fi

	dir=$CACHE_ROOT/$rel
	wt=$dir/src
	b=$dir/build
	mkdir -p "$dir"
	exec 9>"$dir/lock"
	if ! flock -n 9; then
		fail setup "another api_check run holds $dir/lock"
		return
	fi

	# Build dirs and the file-time trick below are only valid for the
	# base commit they were built from: start cold when HEAD moved.
	if [ "$(cat "$dir/head" 2>/dev/null)" != "$head" ]; then
		rm -rf "$b" "$dir/kunit" "$dir/touched"
		echo "$head" >"$dir/head"
	fi

	# Our own worktree only: unregister the one of a previous run (its
	# admin dir in the tree's .git/worktrees, checked to point at $wt) and
	# move it aside; deleting 80k files is slow, so that happens in the
	# background. Then add a fresh one at the same path.
	if [ -e "$wt" ]; then
		admin=$(git -C "$wt" rev-parse --absolute-git-dir 2>/dev/null || true)
		if [ -n "$admin" ] && [ "$admin" != "$(git -C "$top" rev-parse --absolute-git-dir)" ] &&
		   [ "$(cat "$admin/gitdir" 2>/dev/null)" = "$wt/.git" ]; then
			rm -rf "$admin"
		fi
		mv "$wt" "$dir/trash.$$.$RANDOM"
	fi
	if compgen -G "$dir/trash.*" >/dev/null; then
		nohup rm -rf "$dir"/trash.* >/dev/null 2>&1 &
	fi
	if ! git -C "$top" worktree add -q -f --detach "$wt" "$head" 2>"$dir/worktree.log"; then
		fail setup "git worktree add failed, see $dir/worktree.log"
		return
	fi
	# Cached build dirs: give every file the commit time of HEAD, and the
	# files patched in the previous run the current time, so that make
	# rebuilds exactly what differs from the objects it has.
	(cd "$wt" && git ls-files -z | xargs -0 touch -h -c -d "@$(git log -1 --format=%ct HEAD)")
	if [ -s "$dir/touched" ]; then
		(cd "$wt" && xargs -r touch -c <"$dir/touched")
	fi
	pass setup "$top @ ${head:0:12} -> $wt, series $(basename "$series") (${#patches[@]} patches)"

	base_log=$dir/base-$head.log
	if [ $do_build -eq 1 ]; then
		start
		if [ -s "$base_log" ]; then
			pass base-build "cached $base_log"
		elif rm -rf "$b" && configure "$wt" "$b" && build "$wt" "$b" "$base_log.tmp"; then
			mv "$base_log.tmp" "$base_log"
			pass base-build "W=1 ${BUILD_TARGETS[*]}: $(warnings "$base_log" "$wt" | wc -l) warning(s) before the patches"
		else
			fail base-build "unpatched tree does not build, see $base_log.tmp"
			base_log=
		fi
	fi

	start
	if ! (cd "$wt" && git am -q "${patches[@]}") >"$dir/am.log" 2>&1; then
		(cd "$wt" && git am --abort) >/dev/null 2>&1 || true
		fail git-am "$(head -1 "$dir/am.log"), see $dir/am.log"
		return
	fi
	git -C "$wt" diff --name-only "$head" HEAD >"$dir/touched"
	pass git-am "${#patches[@]} patches from $series"

	start
	cp_bad=()
	rm -f "$dir"/checkpatch-*.log
	for p in "${patches[@]}"; do
		if ! (cd "$wt" && PATH=/usr/bin:$PATH ./scripts/checkpatch.pl --strict -q "$p") \
			>"$dir/checkpatch-$(basename "$p").log" 2>&1; then
			cp_bad+=("$(basename "$p")")
		fi
	done
	if [ ${#cp_bad[@]} -eq 0 ]; then
		pass checkpatch "--strict clean on ${#patches[@]} patches"
	else
		fail checkpatch "${cp_bad[*]}, see $dir/checkpatch-*.log"
	fi

	if [ -x "$PATCH_ROOT/tree-check" ]; then
		start
		if (cd "$wt" && "$PATCH_ROOT/tree-check") >"$dir/tree-check.log" 2>&1; then
			pass tree-check "$(tail -1 "$dir/tree-check.log")"
		else
			fail tree-check "$(tail -1 "$dir/tree-check.log"), see $dir/tree-check.log"
		fi
	fi

	if [ $do_build -eq 1 ]; then
		start
		log=$dir/build.log
		if ! configure "$wt" "$b"; then
			fail build "allmodconfig/modules_prepare failed"
		elif ! build "$wt" "$b" "$log" "$KUNIT_OBJ"; then
			fail build "make failed, see $log"
		elif ! grep -Eqx "${KUNIT_OBJ%.o}\.k?o" "$b/drivers/dma/modules.order"; then
			fail build "$KUNIT_OBJ is not a module of this config, see $log"
		elif [ -z "$base_log" ]; then
			fail build "no base log to compare warnings with"
		else
			new=$(comm -13 <(warnings "$base_log" "$wt") <(warnings "$log" "$wt"))
			if [ -n "$new" ]; then
				fail build "new warnings with W=1, see $log:"
				printf '     %s\n' "$new"
			else
				pass build "W=1 ${BUILD_TARGETS[*]} $KUNIT_OBJ: no new warnings ($(grep -c '^  CC' "$log") objects compiled)"
			fi
		fi
	fi

	if [ $do_build -eq 1 ]; then
		for arch in $arches; do
			check_cross "$top" "$head" "$dir" "$wt" "$arch"
		done
	fi

	if [ $do_kunit -eq 1 ]; then
		start
		log=$dir/kunit.log
		kc=$KUNITCONFIG
		# a series directory may carry its own (a release whose UML
		# lacks an option the common one asks for)
		[ -f "$series/dmaengine-callback.kunitconfig" ] &&
			kc=$series/dmaengine-callback.kunitconfig
		if (cd "$wt" && "$PYTHON" tools/testing/kunit/kunit.py run \
			--build_dir="$dir/kunit" --kunitconfig="$kc" \
			--jobs "$JOBS") >"$log" 2>&1; then
			pass kunit "$(grep -E 'Testing complete\.' "$log" | sed 's/^\[[0-9:]*\] //' | tail -1)"
			grep -ho 'dmaengine-latency:.*' "$dir/kunit/test.log" 2>/dev/null |
				sed 's/^/     /' || true
		else
			fail kunit "see $log: $(grep -E 'Testing complete|ERROR|FAILED' "$log" | tail -1)"
		fi
	fi
}

for tree in "${trees[@]}"; do
	rel=$(basename "$tree")
	check_tree "$tree"
done

if [ $failures -eq 0 ]; then
	echo "PASS api_check: all steps passed on ${#trees[@]} tree(s)"
else
	echo "FAIL api_check: $failures step(s) failed"
	exit 1
fi
