# bash completion for tmprun(1)                                    -*- shell-script -*-
# Written for bash-completion 2.11 (Debian 12): _init_completion, _filedir, _command_offset.
#
# One line per option (adding an option to tmprun is adding its line here):
#   SPELLINGS  VALUE  WHEN
# SPELLINGS are comma-separated; a long one ending in "=" takes a value, in "[=]" an optional one (only as
# --opt=VALUE, as getopt_long(3) reads it). VALUE says how the value is completed: dir (a directory), user
# (USER or USER:GROUP), var (a variable name), file (a path), - (free text: sizes, durations, names; nothing to
# offer).
# WHEN is run (only for running a COMMAND), gc (only with --gc) or any.
# shellcheck disable=SC2207,SC2016 # COMPREPLY=($(compgen ...)) and compgen -W '"${all[@]}"' are the idiom
_tmprun_options='
-d,--dir=                  dir   any
--prefix=                  -     any
--suffix=                  -     any
--mode=                    -     run
--export=                  var   run
--export-all               -     run
--link=                    file  run
--cd                       -     run
-k,--keep                  -     run
--keep-on-failure          -     run
--retain=                  -     run
--ignore-cleanup-errors    -     run
--tmpfs[=]                 -     run
--private-tmp              -     run
--user=                    user  run
--drop-caps                -     run
--no-new-privs             -     run
--grace=                   -     run
--gc                       -     gc
--older-than=              -     gc
--dry-run                  -     gc
--list                     -     any
-v,--verbose               -     any
-h,--help                  -     any
-V,--version               -     any
'

# The VALUE column of option $1 (e.g. --dir, -d) if it takes a value, else return 1.
_tmprun_value_of()
{
    local spellings value when s
    while read -r spellings value when; do
        [[ $spellings ]] || continue
        for s in ${spellings//,/ }; do
            case $s in
                "$1=" | "$1[=]") ;;
                "$1") [[ $1 == -? && $s == -? && $spellings == *=* ]] || continue ;;
                *) continue ;;
            esac
            printf '%s\n' "$value"
            return 0
        done
    done <<<"$_tmprun_options"
    return 1
}

# Does option $1 take its value in the next word when given without "=" (--dir DIR, -d DIR)?
_tmprun_takes_next_word()
{
    [[ $1 == --*=* ]] && return 1
    _tmprun_value_of "$1" >/dev/null || return 1
    # An optional value (--tmpfs[=SIZE]) is only ever attached.
    [[ $_tmprun_options != *"$1[=]"* ]]
}

_tmprun_complete_value()
{
    case $1 in
        dir) _filedir -d ;;
        file) _filedir ;;
        user)
            if [[ $cur == *:* ]]; then
                COMPREPLY=($(compgen -g -P "${cur%%:*}:" -- "${cur#*:}"))
                __ltrim_colon_completions "$cur"
            else
                COMPREPLY=($(compgen -u -- "$cur"))
            fi
            ;;
        var) COMPREPLY=($(compgen -e -- "$cur")) ;;
    esac
}

# Every option that fits what is already on the line ($gc: --gc was given).
_tmprun_complete_option()
{
    local spellings value when s all=()
    while read -r spellings value when; do
        [[ $spellings ]] || continue
        [[ $when == gc && ! $gc ]] && continue
        [[ $when == run && $gc ]] && continue
        for s in ${spellings//,/ }; do
            case $s in
                *'[=]') all+=("${s%'[=]'}" "${s%'[=]'}=") ;;
                *) all+=("$s") ;;
            esac
        done
    done <<<"$_tmprun_options"
    [[ $gc ]] || all+=(--)
    COMPREPLY=($(compgen -W '"${all[@]}"' -- "$cur"))
    if [[ ${COMPREPLY-} == *= ]]; then
        compopt -o nospace
    fi
}

_tmprun()
{
    local cur prev words cword split IFS=$' \t\n'
    _init_completion -s -n : || return

    # Where does COMMAND start? After "--", else at the first word that is not an option or its value.
    local i gc='' cmd=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --)
                cmd=$((i + 1))
                break
                ;;
            --gc) gc=1 ;;
            -?*) _tmprun_takes_next_word "${words[i]}" && ((i++)) ;;
            *)
                cmd=$i
                break
                ;;
        esac
    done

    local value
    if ((cmd == 0)); then
        if [[ $split == true ]] || [[ $prev == -* && $prev != --*=* ]]; then
            if value=$(_tmprun_value_of "$prev"); then
                # --tmpfs SIZE is not how getopt_long reads an optional value: only --tmpfs=SIZE is.
                if [[ $split == true ]] || _tmprun_takes_next_word "$prev"; then
                    _tmprun_complete_value "$value"
                    return
                fi
            fi
        fi
        [[ $split == true ]] && return
        if [[ $cur == -* ]]; then
            _tmprun_complete_option
            return
        fi
        [[ $gc ]] && return # --gc takes no COMMAND
        # The first word that is neither an option nor its value is COMMAND.
        cmd=$cword
    fi

    # _command_offset counts in COMP_WORDS, which bash splits at "=" and ":" too (--dir=/x is three words
    # there, one in words): find the COMP_WORDS index of words[cmd].
    local k j=0 s
    for ((k = 0; k < cmd; k++)); do
        s=
        while ((j < ${#COMP_WORDS[@]})) && [[ $s != "${words[k]}" ]] && ((${#s} < ${#words[k]})); do
            s+=${COMP_WORDS[j++]}
        done
    done
    _command_offset "$j"
} &&
    complete -F _tmprun tmprun

# ex: filetype=sh
