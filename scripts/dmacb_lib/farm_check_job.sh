#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dmacb farm: one of verify's checker or checkpatch jobs, on whichever host
# GNU parallel chose, in the run's workspace there (farm_check.py made it).
#   sh dmacb-verify-RUN/job.sh "checker ARCH FILE..."     (files relative to the tree)
#   sh dmacb-verify-RUN/job.sh "checkpatch PATCH..."      (names in patches/)
# Prints what the tool printed, then one end line naming the workspace and
# the count of its inputs; a job whose output lacks it is not believed
# (dmacb runs it elsewhere, or here).
set -u
set -f
w=$(cd "$(dirname "$0")" && pwd)
. "$w/env"
set -- $1
what=$1
shift
n=$#
case "$what" in
checker)
	arch=$1
	shift
	n=$#
	args=
	for f; do
		args="$args --file $f"
	done
	# dmacb-check exits 1 when a check fails: an answer, not a failure
	"$BIN" --db "$w/$arch" --kb "$KB" --plan "$w/plan-$arch.tsv" --tree "$WT" \
		--jobs 1 $args
	rc=$?
	[ "$rc" -le 1 ] || exit "$rc"
	;;
checkpatch)
	args=
	for p; do
		args="$args $w/patches/$p"
	done
	# exit 1: findings, an answer
	(cd "$WT" && ./scripts/checkpatch.pl --strict --no-color $args)
	rc=$?
	[ "$rc" -le 1 ] || exit "$rc"
	;;
*)
	echo "job.sh: unknown job '$what'" >&2
	exit 97
	;;
esac
echo "DMACB-CHECK-END $what n=$n w=$w host=$(uname -n)"
