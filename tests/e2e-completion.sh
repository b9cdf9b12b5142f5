#!/bin/sh
# Shell completions: bash driven through bash-completion 2.11's API (COMP_WORDS/COMP_CWORD in, COMPREPLY out)
# from the source tree, fish through `complete -C` when fish is installed, zsh's syntax when zsh is; and
# every option of tmprun --help in each of them. Nothing is installed system-wide.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

comp=$(cd "$TESTS_SRCDIR/../completions" && pwd) || exit 99

# A tmprun on PATH (fish completes only commands it can find) and a command only this test knows.
mkdir "$SCRATCH/bin" "$SCRATCH/dirs" "$SCRATCH/dirs/sub1" "$SCRATCH/dirs/sub2"
: >"$SCRATCH/dirs/subfile"
ln -s "$TMPRUN" "$SCRATCH/bin/tmprun"
printf '#!/bin/sh\n' >"$SCRATCH/bin/tmprunprobe"
chmod 0755 "$SCRATCH/bin/tmprunprobe"
PATH=$SCRATCH/bin:$PATH
export PATH

# The long options tmprun --help lists, one per line, sorted.
"$TMPRUN" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u >"$SCRATCH/help-options"

# bash: complete LINE at its end as bash would (the words split at blanks, and at "=" and ":" as
# COMP_WORDBREAKS does), and print COMPREPLY one per line, sorted.
cat >"$SCRATCH/complete.bash" <<'EOF'
source "$BASH_COMPLETION" || exit 99
source "$COMPLETIONS/tmprun.bash" || exit 99
line=$1 w="" i=0 c=""
COMP_WORDS=()
for ((i = 0; i < ${#line}; i++)); do
    c=${line:i:1}
    case $c in
        ' ') [[ $w ]] && COMP_WORDS+=("$w"); w= ;;
        [=:]) [[ $w ]] && COMP_WORDS+=("$w"); COMP_WORDS+=("$c"); w= ;;
        *) w+=$c ;;
    esac
done
COMP_WORDS+=("$w")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=$line
COMP_POINT=${#line}
COMPREPLY=()
_tmprun tmprun "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}" | sort -u
EOF
bash_complete() {
    BASH_COMPLETION=$bash_completion COMPLETIONS=$comp bash "$SCRATCH/complete.bash" "$1"
}

bash_completion=
for f in /usr/share/bash-completion/bash_completion /etc/bash_completion; do
    [ -f "$f" ] && bash_completion=$f && break
done
if ! command -v bash >/dev/null || [ -z "$bash_completion" ]; then
    skip "bash completion" "bash or bash-completion is not installed"
else
    got=$(bash_complete 'tmprun --kee')
    assert_eq "$got" "--keep
--keep-on-failure" "bash: an option: --kee completes to --keep and --keep-on-failure"
    assert_eq "$(bash_complete 'tmprun --di')" "--dir=" "bash: an option that takes a value ends in ="
    assert_eq "$(bash_complete 'tmprun --gc --dr')" "--dry-run" "bash: --dry-run after --gc"
    assert_eq "$(bash_complete 'tmprun --dr')" "--drop-caps" "bash: no --dry-run without --gc"
    assert_eq "$(bash_complete "tmprun --dir=$SCRATCH/dirs/s")" "$SCRATCH/dirs/sub1
$SCRATCH/dirs/sub2" "bash: --dir= completes directories only"
    assert_eq "$(bash_complete "tmprun -d $SCRATCH/dirs/s")" "$SCRATCH/dirs/sub1
$SCRATCH/dirs/sub2" "bash: -d DIR completes directories only"
    assert_contains "$(bash_complete 'tmprun --user=roo')" "root" "bash: --user= completes user names"
    assert_contains "$(bash_complete 'tmprun --user=root:roo')" "root" "bash: --user=USER: completes groups"
    assert_eq "$(PATH_TO_COMPLETE=1 bash_complete 'tmprun --export=PATH_TO_COMP')" "PATH_TO_COMPLETE" \
        "bash: --export= completes exported variable names"
    assert_eq "$(bash_complete 'tmprun --mode=07')" "" "bash: --mode= is free text"
    assert_eq "$(bash_complete "tmprun --tmpfs=$SCRATCH/")" "" "bash: --tmpfs= is free text, not a file"
    assert_eq "$(bash_complete "tmprun --dir=$SCRATCH/dirs -- tmprunpro")" "tmprunprobe" \
        "bash: a command after --"
    assert_eq "$(bash_complete 'tmprun --cd --tmpfs=2G tmprunpro')" "tmprunprobe" \
        "bash: a command as the first word that is not an option"
    assert_eq "$(bash_complete 'tmprun --prefix x tmprunpro')" "tmprunprobe" \
        "bash: a command after an option's value given as the next word"
    assert_eq "$(bash_complete 'tmprun --cd -- tmprun --dir=/tmp --ver')" "--verbose
--version" "bash: COMMAND's own arguments are completed by COMMAND's completion"
    assert_eq "$(bash_complete 'tmprun -- tmprunprobe --ke')" "" \
        "bash: COMMAND's arguments are not taken for tmprun's options"
    all=$( (bash_complete 'tmprun --' && bash_complete 'tmprun --gc --') | sed 's/=$//' | grep -v '^--$' | sort -u)
    assert_eq "$all" "$(cat "$SCRATCH/help-options")" "bash: the options offered are those of tmprun --help"
fi

if command -v fish >/dev/null; then
    # No configuration of the user's: --no-config where fish has it (3.3 and later; Debian 11 has 3.1), and an
    # empty XDG_CONFIG_HOME either way.
    mkdir "$SCRATCH/fish-config"
    no_config=--no-config
    fish --no-config -c true 2>/dev/null || no_config=
    fish_complete() {
        XDG_CONFIG_HOME=$SCRATCH/fish-config fish $no_config \
            -c "set -p fish_complete_path '$comp'; complete -C '$1'" | cut -f1 | sort -u
    }
    assert_eq "$(fish_complete 'tmprun --kee')" "--keep
--keep-on-failure" "fish: an option"
    assert_eq "$(fish_complete "tmprun --dir=$SCRATCH/dirs/s")" "--dir=$SCRATCH/dirs/sub1/
--dir=$SCRATCH/dirs/sub2/" "fish: --dir= completes directories only"
    # fish 4 adds fuzzy matches (--dir for --dr) to what complete -C prints: look for --dry-run alone.
    assert_eq "$(fish_complete 'tmprun --gc --dr' | grep -x -e --dry-run)" "--dry-run" "fish: --dry-run after --gc"
    assert_eq "$(fish_complete 'tmprun --dr' | grep -x -e --dry-run)" "" "fish: no --dry-run without --gc"
    assert_eq "$(fish_complete "tmprun --tmpfs=$SCRATCH/")" "" "fish: --tmpfs= is free text, not a file"
    assert_eq "$(fish_complete 'tmprun --dir=/tmp -- tmprunpro')" "tmprunprobe" "fish: a command after --"
    assert_eq "$(fish_complete 'tmprun --cd -- tmprun --ver')" "--verbose
--version" "fish: COMMAND's own arguments are completed by COMMAND's completion"
    all=$( (fish_complete 'tmprun --' && fish_complete 'tmprun --gc --') | sort -u)
    assert_eq "$all" "$(cat "$SCRATCH/help-options")" "fish: the options offered are those of tmprun --help"
else
    skip "fish completion" "fish is not installed"
fi

if command -v zsh >/dev/null; then
    assert_status 0 "zsh: _tmprun parses (zsh -n)" zsh -n "$comp/_tmprun"
else
    skip "zsh: _tmprun parses" "zsh is not installed"
fi
# zsh's options, as written in _tmprun's specs ('--dir=[', {-d+,--dir=}, '--cd[').
grep -v "^#" "$comp/_tmprun" | grep -oE -- "--[a-z][a-z-]*[=[}]" | sed "s/.$//" | sort -u >"$SCRATCH/zsh-options"
assert_eq "$(cat "$SCRATCH/zsh-options")" "$(cat "$SCRATCH/help-options")" \
    "zsh: the options of _tmprun are those of tmprun --help"

done_testing
