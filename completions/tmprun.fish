# fish completion for tmprun(1)
#
# One line per option (adding an option to tmprun is adding its line here):
#   SHORT LONG VALUE WHEN DESCRIPTION
# SHORT is - when there is none. VALUE: - (none), opt (an optional value, only as --opt=VALUE), text (free
# text: sizes, durations, names), dir, file (a path), user, var (an exported variable's name). WHEN: run (only when running
# a COMMAND), gc (only with --gc), any.
set -l tmprun_options \
    'd dir            dir  any create the workspace in DIR' \
    '- prefix         text any name prefix (default tmprun.)' \
    '- suffix         text any name suffix (default none)' \
    '- mode           text run mode of the workspace, octal (default 0700)' \
    '- export         var  run also export the workspace as this variable' \
    '- export-all     -    run also export it as TMP, TEMP, TEMPDIR and GOTMPDIR' \
    '- link           file run make PATH a symbolic link to the workspace' \
    '- cd             -    run run COMMAND inside the workspace' \
    'k keep           -    run never remove the workspace; print its path' \
    '- keep-on-failure -   run keep the workspace when COMMAND fails' \
    '- retain         text run leave only the N most recently kept workspaces' \
    '- ignore-cleanup-errors - run neither report removal failures nor change the status' \
    '- tmpfs          opt  run the workspace is a fresh tmpfs (--tmpfs=SIZE: 512M, 2G, 50%)' \
    '- private-tmp    -    run COMMAND sees the workspace as /tmp and /var/tmp' \
    '- user           user run run COMMAND as USER[:GROUP] without capabilities (root only)' \
    '- drop-caps      -    run run COMMAND with every capability set empty' \
    '- no-new-privs   -    run run COMMAND with no_new_privs set' \
    '- grace          text run time between SIGTERM and SIGKILL for leftovers (default 2s)' \
    '- gc             -    gc  remove stale workspaces that killed runs left' \
    '- older-than     text gc  with --gc: only workspaces unchanged this long (default 1h)' \
    '- dry-run        -    gc  with --gc: only print what would be removed' \
    '- list           -    any list the workspaces in the base: live, kept or stale' \
    'v verbose        -    any report the workspace, removal counts and timing' \
    'h help           -    any display help and exit' \
    'V version        -    any output version information and exit'

# The long options whose value may be the next word (--dir DIR), for __fish_tmprun_command_index.
set -g __fish_tmprun_with_value
for row in $tmprun_options
    # Fields split on runs of blanks, the description whole (no named captures: fish < 3.4 has none).
    set -l f (string replace -ra '\s+' ' ' -- $row | string split -m 4 ' ')
    test (count $f) -eq 5; or continue
    set -l short $f[1]
    set -l long $f[2]
    set -l value $f[3]
    set -l when $f[4]
    set -l desc $f[5]
    set -l args -c tmprun -l $long -d $desc
    test $short != -; and set -a args -s $short
    switch $when
        case run
            set -a args -n '__fish_tmprun_options_here; and not __fish_seen_argument -l gc'
        case gc
            set -a args -n '__fish_tmprun_options_here; and __fish_seen_argument -l gc'
        case '*'
            set -a args -n __fish_tmprun_options_here
    end
    switch $value
        case dir
            set -a args -x -a '(__fish_complete_directories)'
        case user
            set -a args -x -a '(__fish_complete_users)'
        case var
            set -a args -x -a '(set --names --export)'
        case file
            set -a args -r -F
        case text
            set -a args -x
    end
    # An optional value is free text, given only as --opt=VALUE: no files after the "=".
    test $value = opt
    and complete -c tmprun -f -n "string match -q -- '--$long=*' (commandline -ct)"
    switch $value
        case - opt
        case '*'
            set -a __fish_tmprun_with_value --$long
            test $short != -; and set -a __fish_tmprun_with_value -$short
    end
    complete $args
end

# The index in (commandline -opc) of COMMAND, the first word after "--" or the first one that is neither an
# option nor an option's value; nothing and status 1 while options are still being given.
function __fish_tmprun_command_index
    set -l tokens (commandline -opc)
    set -l i 2
    while test $i -le (count $tokens)
        set -l t $tokens[$i]
        if test "$t" = --
            math $i + 1
            return 0
        else if contains -- $t $__fish_tmprun_with_value
            set i (math $i + 1)
        else if not string match -rq -- '^-.' $t
            echo $i
            return 0
        end
        set i (math $i + 1)
    end
    return 1
end

function __fish_tmprun_options_here
    not __fish_tmprun_command_index >/dev/null
end

# COMMAND and its arguments, completed as a command line of their own.
function __fish_tmprun_complete_command
    set -l i (__fish_tmprun_command_index)
    or set i (math (count (commandline -opc)) + 1)
    set -l tokens (commandline -opc)
    set -l line
    if test $i -le (count $tokens)
        set line (string escape -- $tokens[$i..-1])
    end
    # As --do-complete=LINE: a LINE starting with "-" is not taken for an option of complete.
    complete --do-complete=(string join -- ' ' $line (commandline -ct))
end

complete -c tmprun -f -a '(__fish_tmprun_complete_command)' \
    -n 'not __fish_seen_argument -l gc; and begin; __fish_tmprun_command_index >/dev/null; or not string match -q -- "-*" (commandline -ct); end'
