/* Programs that push the tracer's fast path where it is most likely to go wrong; each
 * mode reads (and some write) files of the cwd, so that a differential test can
 * compare roar's record with strace's. Built dynamically and with -static. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void read_file(const char *name)
{
    char buffer[64];
    int fd = open(name, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "cannot open %s: %s\n", name, strerror(errno));
        exit(1);
    }
    while (read(fd, buffer, sizeof buffer) > 0)
        ;
    close(fd);
}

static void read_numbered(const char *prefix, int i)
{
    char name[64];
    snprintf(name, sizeof name, "%s%d.txt", prefix, i);
    read_file(name);
}

static void *thread_main(void *arg)
{
    int t = (int)(long)arg;
    for (int k = 0; k < 20; k++) {
        char name[64];
        snprintf(name, sizeof name, "t%d_%d.txt", t, k);
        read_file(name);
    }
    return 0;
}

/* 64 threads (or argv's count) opening files at once. */
static int threads(int n)
{
    pthread_t ids[256];
    for (int t = 0; t < n; t++)
        pthread_create(&ids[t], 0, thread_main, (void *)(long)t);
    for (int t = 0; t < n; t++)
        pthread_join(ids[t], 0);
    return 0;
}

/* A fork bomb of short processes, each reading its own file. */
static int forks(int n)
{
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            read_numbered("f", i);
            _exit(0);
        }
        if (pid < 0) {
            perror("fork");
            return 1;
        }
    }
    int status, failed = 0;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return failed;
}

static volatile int vfork_done;

static void *open_meanwhile(void *arg)
{
    (void)arg;
    for (int i = 0; !vfork_done; i = (i + 1) % 50)
        read_numbered("m", i);
    return 0;
}

/* vfork + exec of cat, while another thread keeps opening files. */
static int vforks(int n)
{
    pthread_t other;
    pthread_create(&other, 0, open_meanwhile, 0);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "v%d.txt", i);
        char *argv[] = {"cat", name, 0};
        pid_t pid = vfork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            execve("/bin/cat", argv, environ);
            _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    vfork_done = 1;
    pthread_join(other, 0);
    return failed;
}

static volatile int handled;

static void on_alarm(int signal)
{
    (void)signal;
    int saved = errno;
    read_file("sig.txt");
    handled++;
    errno = saved;
}

/* A signal handler that opens a file while the main thread is (often) inside one. */
static int signals(void)
{
    struct sigaction action = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &action, 0);
    struct itimerval every = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &every, 0);
    for (int round = 0; round < 20 || handled == 0; round++)
        for (int i = 0; i < 100; i++)
            read_numbered("s", i);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, 0);
    return handled > 0 ? 0 : 1;
}

/* Closes every descriptor a program could have been given, then opens files. */
static int close_all(void)
{
    for (int fd = 3; fd < 65536; fd++)
        close(fd);
    for (int i = 0; i < 20; i++)
        read_numbered("c", i);
    return 0;
}

/* Raw syscalls, as Go makes them: never through libc's open. */
static int raw(void)
{
    char buffer[16];
    long fd = syscall(SYS_openat, AT_FDCWD, "raw.txt", O_RDONLY);
    if (fd < 0 || read((int)fd, buffer, sizeof buffer) < 0)
        return 1;
    close((int)fd);
    long out = syscall(SYS_openat, AT_FDCWD, "raw_out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || write((int)out, "raw\n", 4) != 4)
        return 1;
    close((int)out);
    return 0;
}

/* What the program itself sees of its environment, then the same of a child given
 * an empty environment (as `env -i` would): no trace of roar in either. */
static int environment(void)
{
    for (char **e = environ; *e; e++)
        if (strstr(*e, "roar-preload"))
            printf("seen: %s\n", *e);
    printf("LD_PRELOAD=%s\n", getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "(unset)");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"env", 0};
        char *empty[] = {0};
        execve("/usr/bin/env", argv, empty);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    read_file("env_in.txt");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 0;
    if (!strcmp(mode, "threads"))
        return threads(n > 0 && n <= 256 ? n : 64);
    if (!strcmp(mode, "forks"))
        return forks(n > 0 ? n : 1000);
    if (!strcmp(mode, "vforks"))
        return vforks(n > 0 ? n : 100);
    if (!strcmp(mode, "signals"))
        return signals();
    if (!strcmp(mode, "close-all"))
        return close_all();
    if (!strcmp(mode, "raw"))
        return raw();
    if (!strcmp(mode, "environment"))
        return environment();
    fprintf(stderr, "usage: %s threads|forks|vforks|signals|close-all|raw|environment [N]\n",
            argv[0]);
    return 2;
}
