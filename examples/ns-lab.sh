#!/bin/sh
# The lsns / nsenter experiments of the study notes, redone with `sandbox inspect` and `sandbox exec`
# (docs/cli.md, "inspect", has the expected output). Runs as root or as any user:
#   examples/ns-lab.sh
# It starts examples/ns-lab.yaml in the background and stops it (by its pid) at the end.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sandbox=${SANDBOX:-$here/../bin/sandbox}
name=${LAB_NAME:-ns-lab}
tmp=$(mktemp)
LAB_NAME=$name LAB_SLEEP=600 "$sandbox" up "$here/ns-lab.yaml" >/dev/null 2>&1 </dev/null &
up=$!
trap 'kill -TERM $up 2>/dev/null || true; wait $up 2>/dev/null || true; rm -f "$tmp"' EXIT
i=0
until "$sandbox" inspect "$name" 2>/dev/null | grep -q '"status" : "running"'; do
    i=$((i + 1))
    if [ "$i" -gt 150 ]; then echo "ns-lab: the sandbox did not start" >&2; exit 1; fi
    sleep 0.2
done

# 1. lsns -p PID / ls -l /proc/PID/ns: which namespaces are new, and does exec (nsenter -a) enter them?
"$sandbox" inspect "$name" > "$tmp"
target=$(sed -n '/"target"/,/}/s/.*"pid" : \([0-9]*\).*/\1/p' "$tmp" | head -n 1)
inside=$("$sandbox" exec "$name" -- /bin/sh -c \
    'for t in cgroup ipc mnt net pid time user uts; do echo "$t $(readlink /proc/self/ns/$t)"; done; echo "pid1 $(cat /proc/1/comm)"; echo "self $$"')
for t in cgroup ipc mnt net pid time user uts; do
    theirs=$(readlink "/proc/$target/ns/$t")
    mine=$(readlink "/proc/self/ns/$t")
    entered=$(echo "$inside" | sed -n "s/^$t //p")
    if [ "$theirs" = "$mine" ]; then what="shared with the host"; else what="new"; fi
    if [ "$entered" = "$theirs" ]; then how="exec entered it"; else how="exec did NOT enter it"; fi
    printf '%-7s %-21s %s\n' "$t" "$what" "$how"
done

# 2. the pid namespace: pid 1 inside is the target; the exec'd shell has a small pid of its own
echo "pid 1 inside: $(echo "$inside" | sed -n 's/^pid1 //p')"
self=$(echo "$inside" | sed -n 's/^self //p')
if [ "$self" -lt 100 ]; then echo "the exec'd shell's pid inside is small: yes"; else echo "the exec'd shell's pid inside is small: no ($self)"; fi

# 3. ioctl_ns(2): the parents and owners inspect reports are the host's namespaces
field() { sed -n "/\"type\" : \"$1\"/,/}/s/.*\"$2\" : \\([0-9]*\\).*/\\1/p" "$tmp"; }
inode() { readlink "$1" | sed 's/.*\[\([0-9]*\)\].*/\1/'; }
[ "$(field pid parent)" = "$(inode /proc/self/ns/pid)" ] && echo "the pid namespace's parent is the host's: yes" || echo "the pid namespace's parent is the host's: no"
[ "$(field user parent)" = "$(inode /proc/self/ns/user)" ] && echo "the user namespace's parent is the host's: yes" || echo "the user namespace's parent is the host's: no"
[ "$(field net owner)" = "$(field user inode)" ] && echo "the net namespace is owned by the sandbox's user namespace: yes" || echo "the net namespace is owned by the sandbox's user namespace: no"
[ "$(field user ownerUid)" = "$(id -u)" ] && echo "the user namespace was created by uid $(id -u) (you): yes" || echo "the user namespace was created by you: no"
