#!/bin/sh
# The build: configure keeps a warning flag only if the compiler takes it (issue 13), so a compiler without
# one of gcc's (an older gcc, clang, a cross or musl wrapper) still builds, with --enable-werror too.
# Runs configure from a copy of the files it needs: the source tree may be read-only (distcheck) or
# configured in place (the Debian package build), where a second configure refuses to run.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"
: "${TMPRUN_CC:?TMPRUN_CC must name the compiler (make check sets it)}"
CC=$TMPRUN_CC

top=$(cd "$TESTS_SRCDIR/.." && pwd)
src=$SCRATCH/src
mkdir "$src"
# With their times (-p): make must not want to run autoconf or automake again.
for f in configure configure.ac aclocal.m4 Makefile.am Makefile.in config.h.in build-aux m4 src; do
    [ ! -e "$top/$f" ] || cp -Rp "$top/$f" "$src/"
done

# A compiler that rejects two of the list, as gcc rejects an option it does not know.
cat >"$SCRATCH/cc" <<EOS
#!/bin/sh
for a; do
    case \$a in
    -Wdouble-promotion | -Wunused-parameter)
        echo "cc: error: unrecognized command-line option '\$a'" >&2
        exit 1
        ;;
    esac
done
exec $CC "\$@"
EOS
chmod 0755 "$SCRATCH/cc"

# configured DIR [ARG]...: configure in DIR; $WARN is then the warning flags the Makefile uses.
configured() {
    _dir=$1
    shift
    mkdir "$_dir"
    (cd "$_dir" && "$src/configure" -q "$@") >"$_dir.out" 2>&1
    _st=$?
    WARN=$(sed -n 's/^TMPRUN_WARN = *//p' "$_dir/Makefile" 2>/dev/null)
    return $_st
}
has() { # has FLAG: is FLAG one of $WARN's words?
    case " $WARN " in *" $1 "*) return 0 ;; esac
    return 1
}

if configured "$SCRATCH/real" CC="$CC"; then ok "configure with $CC"; else not_ok "configure with $CC" "$(cat "$SCRATCH/real.out")"; fi
for f in -Wall -Wextra -Wdouble-promotion -Wno-unused-parameter; do
    if has "$f"; then ok "$CC takes $f: it is used"; else not_ok "$CC takes $f: it is used" "TMPRUN_WARN = $WARN"; fi
done

if configured "$SCRATCH/narrow" CC="$SCRATCH/cc" --enable-werror; then
    ok "configure with a compiler lacking two flags"
else
    not_ok "configure with a compiler lacking two flags" "$(cat "$SCRATCH/narrow.out")"
fi
for f in -Wdouble-promotion -Wno-unused-parameter; do
    if has "$f"; then not_ok "a flag the compiler rejects is left out: $f" "TMPRUN_WARN = $WARN"; else ok "a flag the compiler rejects is left out: $f"; fi
done
for f in -Wall -Wextra -Wshadow -Werror; do
    if has "$f"; then ok "the flags it takes are kept: $f"; else not_ok "the flags it takes are kept: $f" "TMPRUN_WARN = $WARN"; fi
done
assert_status 0 "with them, --enable-werror builds an object" make -C "$SCRATCH/narrow" src/libtmprun_a-log.o
done_testing
