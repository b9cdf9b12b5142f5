#!/bin/sh
# .ci/package.sh: what CI checks of the Debian package and of make install (issue 12), as root on Debian 12:
#   deps       install what building the package needs (apt-get build-dep on debian/control)
#   deb        dpkg-buildpackage -us -uc -b: the package, with the test suite during its build
#   lintian    lintian on the result: no error, no warning
#   install    in a pristine Debian 12 root: apt-get install ./tmprun_*.deb, use it, purge it, nothing left
#   apparmor   in a Debian 13 root: apparmor_parser -Q -K on the profile the package ships
#   destdir    make install + make uninstall into a DESTDIR, with every extra: nothing left
# Each step prints its time; the first failure stops the run with a non-zero status.
#
# Usage: sh .ci/package.sh [STEP]...   (default: all, in that order)
# Environment: DEB_BUILD_OPTIONS (e.g. nocheck while iterating), PKG_WORK (default /var/tmp/tmprun-pkg),
# FRESH12 / FRESH13 (fresh-debian.sh roots, default /var/tmp/fresh-pkg12 and /var/tmp/fresh-pkg13).
set -eu
cd "$(dirname "$0")/.."
top=$PWD
work=${PKG_WORK:-/var/tmp/tmprun-pkg}
fresh=$top/../shared/tools/fresh-debian.sh
FRESH12=${FRESH12:-/var/tmp/fresh-pkg12}
FRESH13=${FRESH13:-/var/tmp/fresh-pkg13}
jobs=$(nproc 2>/dev/null || echo 2)
export DEBIAN_FRONTEND=noninteractive

step() { # step NAME CMD...: run one step, timed
    name=$1
    shift
    echo "== package: $name"
    t0=$(date +%s)
    if ! "$@"; then
        echo "== package: FAILED: $name" >&2
        exit 1
    fi
    echo "== package: $name: passed in $(($(date +%s) - t0)) s"
}

# export_tree DIR: the source tree in DIR/tmprun, as committed plus what is not yet (git's view: tracked and
# untracked, not ignored), so a build there is what a clean clone builds.
export_tree() {
    rm -rf "$1"
    mkdir -p "$1/tmprun"
    if git rev-parse -q --verify HEAD >/dev/null 2>&1; then
        git ls-files -co --exclude-standard | while IFS= read -r f; do [ ! -e "$f" ] || echo "$f"; done |
            tar -cf - -T - | tar -x -C "$1/tmprun"
    else
        tar --exclude='./build*' --exclude='*.o' -cf - . | tar -x -C "$1/tmprun"
    fi
}

deps() {
    apt-get update -qq
    # The packaging tools, then debian/control's Build-Depends (with the nocheck profile when asked).
    apt-get install -y -qq --no-install-recommends dpkg-dev debhelper lintian fakeroot git >/dev/null
    profiles=
    case " ${DEB_BUILD_OPTIONS:-} " in *" nocheck "*) profiles="-P nocheck" ;; esac
    # shellcheck disable=SC2086
    apt-get build-dep -y -qq $profiles "$top" >/dev/null
}

# The package and its .changes end up in $work/src, next to the source tree, where they stay for a look.
deb() {
    export_tree "$work/src"
    (cd "$work/src/tmprun" && dpkg-buildpackage -us -uc -b -j"$jobs" >"$work/build.log" 2>&1) || {
        tail -80 "$work/build.log"
        return 1
    }
    ls "$work"/src/tmprun_*.deb
}

lint() {
    changes=$(ls "$work"/src/tmprun_*.changes)
    lintian --fail-on error,warning --display-info "$changes"
}

install_check() {
    deb=$(ls "$work"/src/tmprun_*_*.deb)
    FILES="$deb $top/.ci/package-install-check.sh" "$fresh" "$FRESH12" run \
        "sh /root/files/package-install-check.sh /root/files/$(basename "$deb")"
}

apparmor() {
    rm -rf "$work/deb"
    dpkg-deb -x "$(ls "$work"/src/tmprun_*_*.deb)" "$work/deb"
    profile=$work/deb/usr/share/tmprun/apparmor/tmprun
    grep -q '^profile tmprun /usr/bin/tmprun ' "$profile" || {
        echo "the packaged profile does not attach to /usr/bin/tmprun" >&2
        return 1
    }
    SUITE=trixie FILES="$profile" "$fresh" "$FRESH13" run \
        'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apparmor >/dev/null &&
         apparmor_parser --version | head -1 && apparmor_parser -Q -K /root/files/tmprun && echo "apparmor_parser: profile OK"'
}

destdir() {
    export_tree "$work/destdir-src"
    b=$work/destdir-build d=$work/destdir
    rm -rf "$b" "$d"
    mkdir -p "$b"
    (cd "$work/destdir-src/tmprun" && ./autogen.sh >/dev/null 2>&1) &&
        (cd "$b" && "$work/destdir-src/tmprun/configure" -q --prefix=/usr --sysconfdir=/etc --with-apparmor-profile-dir &&
            make -s -j"$jobs" >/dev/null && make -s install DESTDIR="$d" >/dev/null) || return 1
    for f in usr/bin/tmprun usr/share/man/man1/tmprun.1 usr/share/bash-completion/completions/tmprun \
        usr/share/zsh/site-functions/_tmprun usr/share/fish/vendor_completions.d/tmprun.fish etc/apparmor.d/tmprun; do
        [ -f "$d/$f" ] || {
            echo "make install did not install /$f" >&2
            return 1
        }
    done
    (cd "$b" && make -s uninstall DESTDIR="$d" >/dev/null) || return 1
    left=$(find "$d" ! -type d)
    [ -z "$left" ] || {
        echo "make uninstall left:" "$left" >&2
        return 1
    }
    echo "make uninstall left no file (only the $(find "$d" -type d | wc -l) directories make install created)"
}

steps=${*:-deps deb lintian install apparmor destdir}
t_all=$(date +%s)
for s in $steps; do
    case $s in
    deps) step "build dependencies" deps ;;
    deb) step "dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})" deb ;;
    lintian) step "lintian" lint ;;
    install) step "install, use and purge in a pristine Debian 12 root" install_check ;;
    apparmor) step "apparmor_parser -Q -K in a Debian 13 root" apparmor ;;
    destdir) step "make install/uninstall into a DESTDIR" destdir ;;
    *)
        echo "package.sh: unknown step $s" >&2
        exit 2
        ;;
    esac
done
echo "== package: all passed ($steps) in $(($(date +%s) - t_all)) s"
