#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dmacb farm: one job of the audit's facts pass, on whichever host GNU
# parallel chose.  Sent there with --basefile next to the facts script.
#   sh farm_job.sh KERNEL "FILE FILE..." SPATCH_OPTION...   (paths relative to KERNEL)
# Prints spatch's fact lines, then one end line; a job whose output lacks
# the end line is not believed (dmacb reruns it elsewhere).
set -u
set -f
here=$(cd "$(dirname "$0")" && pwd)
kernel=$1
files=$2
shift 2
t=$(mktemp -d "${TMPDIR:-/tmp}/dmacb-farm-job.XXXXXX") || exit 97
trap 'rm -rf "$t"' EXIT
n=0
for f in $files; do
	printf '%s/%s\n\n' "$kernel" "$f"
	n=$((n + 1))
done > "$t/groups"
# Outside the kernel tree (its .cocciconfig), temporary files in $t.
# The options are facts.SPATCH_OPTS, one group per file as in a local run.
cd "$t" || exit 97
TMPDIR="$t" spatch --sp-file "$here/dma_callback_facts.cocci" "$@" \
	--file-groups "$t/groups" --jobs 1 --chunksize 1 --tmp-dir "$t/j"
rc=$?
[ "$rc" -eq 0 ] && echo "DMACB-FARM-END files=$n host=$(uname -n)"
exit "$rc"
