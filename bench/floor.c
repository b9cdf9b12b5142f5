/* The plain fork-exec floor tmprun is measured against: make a temporary directory, run COMMAND in it with
 * TMPDIR set, wait, remove the (empty) directory. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char dir[] = "/tmp/floor.XXXXXX";
    int st = 0;
    pid_t pid;

    if (argc < 2 || !mkdtemp(dir) || setenv("TMPDIR", dir, 1) < 0 || (pid = fork()) < 0)
        return 125;
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    (void)waitpid(pid, &st, 0);
    (void)rmdir(dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
