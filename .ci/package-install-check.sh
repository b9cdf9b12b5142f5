#!/bin/sh
# package-install-check.sh DEB: run by .ci/package.sh as root inside a pristine Debian 12 root
# (fresh-debian.sh): install the package as a new user would, with its dependencies from the archive, use it,
# purge it, and check that nothing of it is left.
set -eu
deb=$1
export DEBIAN_FRONTEND=noninteractive
fail() {
    echo "install check: $*" >&2
    exit 1
}

apt-get update -qq
# What a user who reads man pages and presses Tab has; not part of the check.
apt-get install -y -qq --no-install-recommends man-db bash-completion >/dev/null

# Every path on the root filesystem but the ones apt, dpkg and the logs change on any install.
snapshot() {
    find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /root \
        -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache -o -path /var/log \) -prune -o -print |
        sort
}
snapshot >/root/before

apt-get install -y -qq "$deb" >/dev/null || fail "apt-get install $deb failed"
echo "installed: $(dpkg-query -W -f='${Package} ${Version} ${Status}' tmprun)"

tmprun --version | head -1
man -w tmprun || fail "man -w tmprun finds no page"
for f in /usr/share/bash-completion/completions/tmprun /usr/share/zsh/vendor-completions/_tmprun \
    /usr/share/fish/vendor_completions.d/tmprun.fish /usr/share/tmprun/apparmor/tmprun \
    /lib/systemd/system/tmprun-gc.timer /lib/systemd/system/tmprun-gc.service; do
    [ -f "$f" ] || fail "$f is missing"
    echo "present: $f"
done
grep -q '^ExecStart=/usr/bin/tmprun --gc' /lib/systemd/system/tmprun-gc.service ||
    fail "tmprun-gc.service does not run /usr/bin/tmprun --gc"
[ -L /etc/systemd/system/timers.target.wants/tmprun-gc.timer ] || fail "tmprun-gc.timer is not enabled"
echo "enabled: tmprun-gc.timer"
# Debian 12's AppArmor cannot parse the profile: it must not be where apparmor.service loads profiles from.
[ ! -e /etc/apparmor.d/tmprun ] || fail "/etc/apparmor.d/tmprun would break apparmor.service on Debian 12"
# The installed bash completion, loaded the way bash-completion loads it (by the command's name).
# shellcheck disable=SC2016 # for bash
got=$(bash -c '. /usr/share/bash-completion/bash_completion && __load_completion tmprun &&
    COMP_WORDS=(tmprun --keep-on) COMP_CWORD=1 COMP_LINE="tmprun --keep-on" COMP_POINT=16 &&
    { _tmprun tmprun --keep-on tmprun; printf "%s\n" "${COMPREPLY[@]}"; }') || true
[ "$got" = --keep-on-failure ] || fail "bash completion of 'tmprun --keep-on' gave '$got'"
echo "bash completion: tmprun --keep-on -> $got"
# shellcheck disable=SC2016 # for COMMAND's shell
tmprun -- sh -c 'test -d "$TMPDIR" && test -w "$TMPDIR"' || fail "tmprun -- sh -c 'test -d \$TMPDIR' failed"
left=$(find /tmp -maxdepth 1 -name 'tmprun.*')
[ -z "$left" ] || fail "workspace left in /tmp: $left"
echo "tmprun -- sh -c 'test -d \"\$TMPDIR\"': ok, nothing left in /tmp"
tmprun --gc --dry-run --older-than=0 || fail "tmprun --gc failed"

apt-get purge -y -qq --autoremove tmprun >/dev/null || fail "apt-get purge tmprun failed"
dpkg-query -W -f='${Status}\n' tmprun 2>/dev/null | grep -q installed && fail "tmprun is still installed"
snapshot >/root/after
if ! diff /root/before /root/after | grep -v '^[0-9]' >/root/left; then
    echo "purged: nothing of tmprun is left"
else
    cat /root/left
    fail "apt-get purge tmprun left the paths above"
fi
