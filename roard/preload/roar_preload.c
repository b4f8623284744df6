/*
 * roar's fast path: an LD_PRELOAD library that records the job's read-only and
 * exclusive-create opens into a ring shared with the job's tracer, without a
 * ptrace stop. Its own syscalls are made from one instruction at STUB_ADDR, which
 * the job's seccomp filter lets through; every other syscall of the process still
 * stops under ptrace. Whatever this library does not see (static programs, raw
 * syscalls, ld.so's own opens, calls made inside libc) is recorded by ptrace as
 * before: the fast path only makes a record cheaper, never different.
 *
 * Rules: no allocation, no libc calls on the fast path (only `environ`,
 * `__errno_location` and `dlsym` are used, and no library is named: each would be one
 * more open, hence one more stop, in every exec; `dlsym` is in glibc's libc.so.6 since
 * 2.34, and roard turns the fast path off on an older glibc), async-signal-safe, errno
 * preserved, no descriptor kept open. Anything unexpected falls back to the traced
 * syscall. It is given only to programs glibc's ld.so runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <spawn.h>

#include "ring.h"

#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))

extern char **environ;
extern int *__errno_location(void);
extern void *dlsym(void *, const char *) __attribute__((weak));
#define NEXT ((void *)-1L)

#define PATH_BUFFER 4096
#define MAX_ENV 4096
#define PRELOAD_VAR "LD_PRELOAD="
#define PRELOAD_VAR_LENGTH 11

/* ---- syscalls ---------------------------------------------------------- */

/* A syscall from the stub page: not stopped by the job's filter. */
static long fast6(long nr, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("call *%[stub]"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9),
                       [stub] "r"(STUB_ADDR)
                     : "rcx", "r11", "memory");
    return ret;
}

/* A syscall from this library's own code: traced as any other. */
static long traced6(long nr, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#define fast3(nr, a, b, c) fast6(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)

static long set_errno(long ret)
{
    if (ret < 0 && ret > -4096) {
        *__errno_location() = (int)-ret;
        return -1;
    }
    return ret;
}

/* ---- small string helpers (no libc) ------------------------------------ */

static size_t length_of(const char *s, size_t limit)
{
    size_t n = 0;
    while (n < limit && s[n])
        n++;
    return n;
}

static int starts_with(const char *s, const char *prefix, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != prefix[i])
            return 0;
    return 1;
}

static void copy_bytes(char *to, const char *from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        to[i] = from[i];
}

static size_t decimal(char *out, unsigned long value)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

/* ---- state ------------------------------------------------------------- */

static struct ring_header *ring;
/* This library's path as LD_PRELOAD named it, put back on the way into exec. */
static char preload_path[PATH_BUFFER];
static size_t preload_length;
/* Whether a tracer watches this process: children inherit the library only then. */
static int traced;
/* Whether the stub page is mapped: without it nothing here can bypass the filter. */
static int have_stub;
/* The tracer and its ring are looked up on first need, not at start-up: a process
 * that never opens a file nor execs (most of a shell loop's children) pays nothing
 * for them. NOT_ATTACHED, then ATTACHING while one thread looks, then ATTACHED. */
enum { NOT_ATTACHED, ATTACHING, ATTACHED };
static int attach_state;

static TLS int thread_tid;
static TLS struct lane_header *thread_lane;
/* Set while a wrapper runs: a signal handler's call inside it takes the traced path. */
static TLS int in_wrapper;

static int attached(void);
static int tracer_known(void);

static struct lane_header *lane_at(uint32_t index)
{
    return (struct lane_header *)((char *)ring + RING_HEADER_SIZE + (size_t)index * LANE_SIZE);
}

/* The calling thread's lane, claimed on its first call. A forked or vforked child
 * has another tid than the copy of its parent's thread state says, so it claims its
 * own lane and never writes into its parent's. */
static struct lane_header *my_lane(void)
{
    int tid = (int)fast3(SYS_gettid, 0, 0, 0);
    struct lane_header *lane = thread_lane;
    if (lane && thread_tid == tid && __atomic_load_n(&lane->owner, __ATOMIC_ACQUIRE) == (uint32_t)tid)
        return lane;
    for (uint32_t i = 0; i < ring->lane_count; i++) {
        lane = lane_at(i);
        uint32_t free_owner = 0;
        if (__atomic_load_n(&lane->owner, __ATOMIC_RELAXED) != 0)
            continue;
        if (!__atomic_compare_exchange_n(&lane->owner, &free_owner, (uint32_t)tid, 0,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        uint32_t used = __atomic_load_n(&ring->lanes_used, __ATOMIC_RELAXED);
        while (used < i + 1 &&
               !__atomic_compare_exchange_n(&ring->lanes_used, &used, i + 1, 1,
                                            __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            ;
        thread_tid = tid;
        thread_lane = lane;
        return lane;
    }
    return 0;
}

static void lane_write(struct lane_header *lane, uint64_t at, const void *bytes, size_t n)
{
    char *data = (char *)lane + LANE_HEADER_SIZE;
    const char *from = bytes;
    for (size_t i = 0; i < n; i++)
        data[(at + i) & (LANE_DATA_SIZE - 1)] = from[i];
}

static uint32_t record_length(size_t named, size_t path)
{
    return (uint32_t)((sizeof(struct record_header) + named + path + 7) & ~(size_t)7);
}

/* Whether `lane` has room for a record with names of these lengths. */
static int has_room(struct lane_header *lane, size_t named, size_t path)
{
    uint64_t head = lane->head;
    uint64_t tail = __atomic_load_n(&lane->tail, __ATOMIC_ACQUIRE);
    return head - tail + record_length(named, path) <= LANE_DATA_SIZE;
}

/* Appends one record and publishes it; its sequence number is taken now, after the
 * call returned, so it orders after every stop the tracer handled before. */
static void commit(struct lane_header *lane, uint16_t kind, int open_flags, const char *named,
                   size_t named_length, const char *path, size_t path_length, uint16_t flags)
{
    struct record_header header = {
        .length = record_length(named_length, path_length),
        .kind = kind,
        .flags = flags,
        .seq = __atomic_fetch_add(&ring->seq, 1, __ATOMIC_ACQ_REL),
        .tid = thread_tid,
        .open_flags = open_flags,
        .named_length = (uint32_t)named_length,
        .path_length = (uint32_t)path_length,
    };
    uint64_t head = lane->head;
    lane_write(lane, head, &header, sizeof header);
    lane_write(lane, head + sizeof header, named, named_length);
    lane_write(lane, head + sizeof header + named_length, path, path_length);
    __atomic_store_n(&lane->head, head + header.length, __ATOMIC_RELEASE);
    __atomic_fetch_add(&ring->published, 1, __ATOMIC_RELEASE);
}

/* ---- opens ------------------------------------------------------------- */

/* What an open with these flags leaves in the record: RECORD_READ or RECORD_CREATE,
 * 0 for nothing (directories, O_PATH), -1 when it must take the traced path (it may
 * change or destroy content, and ptrace must capture what was there first). */
static int fast_kind(int flags)
{
    int access = flags & O_ACCMODE;
    if ((flags & O_TMPFILE) == O_TMPFILE)
        return -1;
    if (flags & O_PATH)
        return 0;
    if (flags & O_CREAT) {
        /* A new file by construction: nothing was there to lose. */
        if ((flags & O_EXCL) && access != O_RDONLY)
            return RECORD_CREATE;
        return -1;
    }
    if (access != O_RDONLY || (flags & O_TRUNC))
        return -1;
    return (flags & O_DIRECTORY) ? 0 : RECORD_READ;
}

/* The name the kernel gives descriptor `fd`: what was opened, symlinks resolved. */
static long descriptor_name(int fd, char *out)
{
    char link[32] = "/proc/self/fd/";
    size_t n = 14;
    n += decimal(link + n, (unsigned long)fd);
    link[n] = 0;
    return fast3(SYS_readlink, link, out, PATH_BUFFER);
}

static int traced_open(int dirfd, const char *path, int flags, int mode)
{
    return (int)set_errno(traced6(SYS_openat, dirfd, (long)path, flags, mode, 0, 0));
}

static int do_open(int dirfd, const char *path, int flags, int mode)
{
    int fast = !in_wrapper && attached() && ring &&
               __atomic_load_n(&ring->enabled, __ATOMIC_RELAXED);
    int kind = fast ? fast_kind(flags) : -1;
    if (kind < 0)
        return traced_open(dirfd, path, flags, mode);
    in_wrapper = 1;
    struct lane_header *lane = kind ? my_lane() : 0;
    /* Room for the longest names: the program's name is read only once the kernel has
     * read it (a bad pointer must fail with EFAULT, not fault here). */
    if (kind && (!lane || !has_room(lane, PATH_BUFFER, PATH_BUFFER))) {
        /* A full lane takes the traced path: that stop drains the ring. */
        in_wrapper = 0;
        return traced_open(dirfd, path, flags, mode);
    }
    long fd = fast6(SYS_openat, dirfd, (long)path, flags, mode, 0, 0);
    if (fd >= 0 && kind) {
        size_t named = length_of(path, PATH_BUFFER);
        char opened[PATH_BUFFER];
        long n = descriptor_name((int)fd, opened);
        uint16_t flags_out = 0;
        /* No name to give (too long, or refused): the tracer falls back to `path`. */
        if (n < 0 || n >= PATH_BUFFER) {
            flags_out = RECORD_NO_PATH;
            n = 0;
        }
        commit(lane, (uint16_t)kind, flags, path, named, opened, (size_t)n, flags_out);
    }
    in_wrapper = 0;
    return (int)set_errno(fd);
}

static int mode_of(int flags, va_list args)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(args, int) : 0;
}

/* open, open64, openat, openat64: the mode is there only with O_CREAT or O_TMPFILE. */
#define OPEN_WRAPPER(name, params, dirfd)                                                  \
    EXPORT int name params                                                                 \
    {                                                                                      \
        va_list args;                                                                      \
        va_start(args, flags);                                                             \
        int mode = mode_of(flags, args);                                                   \
        va_end(args);                                                                      \
        return do_open(dirfd, path, flags, mode);                                          \
    }

OPEN_WRAPPER(open, (const char *path, int flags, ...), AT_FDCWD)
OPEN_WRAPPER(open64, (const char *path, int flags, ...), AT_FDCWD)
OPEN_WRAPPER(openat, (int dirfd, const char *path, int flags, ...), dirfd)
OPEN_WRAPPER(openat64, (int dirfd, const char *path, int flags, ...), dirfd)

/* glibc's _FORTIFY_SOURCE entry points (no mode: O_CREAT is refused there). */
EXPORT int __open_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0); }
EXPORT int __open64_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0); }
EXPORT int __openat_2(int dirfd, const char *path, int flags) { return do_open(dirfd, path, flags, 0); }
EXPORT int __openat64_2(int dirfd, const char *path, int flags) { return do_open(dirfd, path, flags, 0); }

/* ---- the environment --------------------------------------------------- */

/* The LD_PRELOAD entry of `env`, if any. */
static char **preload_entry(char **env)
{
    for (; env && *env; env++)
        if (starts_with(*env, PRELOAD_VAR, PRELOAD_VAR_LENGTH))
            return env;
    return 0;
}

/* Takes this library's entry (the first: roard prepends it) out of LD_PRELOAD in
 * the process's own environment, so that the program sees the user's environment;
 * the variable goes when nothing else was in it. */
static void hide_from_environ(void)
{
    char **entry = preload_entry(environ);
    if (!entry)
        return;
    char *value = *entry + PRELOAD_VAR_LENGTH;
    size_t n = 0;
    while (value[n] && value[n] != ':' && value[n] != ' ')
        n++;
    if (n == 0 || n >= PATH_BUFFER)
        return;
    copy_bytes(preload_path, value, n);
    preload_path[n] = 0;
    preload_length = n;
    char *rest = value + n;
    while (*rest == ':' || *rest == ' ')
        rest++;
    if (*rest) {
        size_t i = 0;
        do
            value[i] = rest[i];
        while (rest[i++]);
        return;
    }
    for (; *entry; entry++)
        entry[0] = entry[1];
}

/* Whether the tracer listed the program open at `fd` as one the library does not pay
 * for (see `skipped` in ring.h). */
static int skipped(long fd)
{
    if (!ring)
        return 0;
    uint64_t st[18]; /* the kernel's struct stat: st_dev, then st_ino */
    if (fast3(SYS_fstat, fd, (long)st, 0) != 0)
        return 0;
    uint32_t count = __atomic_load_n(&ring->skipped_count, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < count && i < SKIPPED_MAX; i++)
        if (ring->skipped[i].ino == st[1] && ring->skipped[i].dev == st[0])
            return 1;
    return 0;
}

/* Whether the program at `path` loads this library: a native ELF file that glibc's
 * ld.so runs, or a script whose interpreter is one, unless the tracer listed that
 * program as one the library does not pay for. A static or 32-bit program never sees
 * LD_PRELOAD from roar (it would keep it in its environment, or ld.so would print an
 * error for it). */
static int loads_library(const char *path, int depth)
{
    unsigned char head[1024];
    long fd = fast3(SYS_open, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    long n = fast3(SYS_read, fd, head, sizeof head);
    int skip = n >= 4 && !(head[0] == '#' && head[1] == '!') && skipped(fd);
    fast3(SYS_close, fd, 0, 0);
    if (skip)
        return 0;
    if (n >= 4 && head[0] == '#' && head[1] == '!' && depth < 4) {
        char interpreter[256];
        long i = 2, j = 0;
        while (i < n && (head[i] == ' ' || head[i] == '\t'))
            i++;
        while (i < n && j < 255 && head[i] > ' ')
            interpreter[j++] = (char)head[i++];
        interpreter[j] = 0;
        return j > 0 && loads_library(interpreter, depth + 1);
    }
    if (n < 64 || !starts_with((const char *)head, "\177ELF", 4) || head[4] != 2 /* 64-bit */)
        return 0;
    uint16_t machine = (uint16_t)(head[18] | head[19] << 8);
    uint64_t phoff = 0;
    for (int b = 7; b >= 0; b--)
        phoff = phoff << 8 | head[32 + b];
    uint16_t phnum = (uint16_t)(head[56] | head[57] << 8);
    if (machine != 62 /* EM_X86_64 */)
        return 0;
    for (uint64_t k = 0; k < phnum && phoff + (k + 1) * 56 <= (uint64_t)n; k++) {
        const unsigned char *ph = head + phoff + k * 56;
        if (ph[0] != 3 /* PT_INTERP */)
            continue;
        uint64_t at = 0, size = 0;
        for (int b = 7; b >= 0; b--) {
            at = at << 8 | ph[8 + b];
            size = size << 8 | ph[32 + b];
        }
        /* glibc's ld.so (ld-linux-x86-64.so.2): the library is tested under glibc only. */
        for (uint64_t i = at; i + 8 <= at + size && i + 8 <= (uint64_t)n; i++)
            if (starts_with((const char *)head + i, "ld-linux", 8))
                return 1;
        return 0;
    }
    return 0;
}

/* `env` with this library back in LD_PRELOAD (first, before the program's own
 * entries), in `out` (room for MAX_ENV + 2 pointers) and `value`; `env` itself when
 * the child would not load it. */
static char *const *with_library(char *const *env, char **out, char *value, int loads)
{
    /* The ring is known only once the tracer is: ask first. */
    if (!tracer_known() || !preload_length || !loads)
        return env;
    if (ring && !__atomic_load_n(&ring->enabled, __ATOMIC_RELAXED))
        return env;
    size_t count = 0, at = (size_t)-1;
    for (; env && env[count]; count++) {
        if (count >= MAX_ENV)
            return env;
        if (at == (size_t)-1 && starts_with(env[count], PRELOAD_VAR, PRELOAD_VAR_LENGTH))
            at = count;
        out[count] = env[count];
    }
    copy_bytes(value, PRELOAD_VAR, PRELOAD_VAR_LENGTH);
    copy_bytes(value + PRELOAD_VAR_LENGTH, preload_path, preload_length);
    size_t n = PRELOAD_VAR_LENGTH + preload_length;
    if (at != (size_t)-1) {
        const char *theirs = env[at] + PRELOAD_VAR_LENGTH;
        size_t more = length_of(theirs, PATH_BUFFER);
        if (more >= PATH_BUFFER)
            return env;
        if (more) {
            value[n++] = ':';
            copy_bytes(value + n, theirs, more);
            n += more;
        }
        out[at] = value;
    } else {
        out[count++] = value;
    }
    value[n] = 0;
    out[count] = 0;
    return out;
}

/* ---- exec and spawn ---------------------------------------------------- */

/* The first $PATH candidate for `file` that exists and may be executed: only to
 * decide whether the child loads this library (libc's own search still runs). */
static int search_path(const char *file, char *out)
{
    if (length_of(file, PATH_BUFFER) >= 256)
        return 0;
    for (size_t i = 0; file[i]; i++)
        if (file[i] == '/') {
            copy_bytes(out, file, length_of(file, 256) + 1);
            return 1;
        }
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char **env = environ; env && *env; env++)
        if (starts_with(*env, "PATH=", 5))
            path = *env + 5;
    while (*path) {
        size_t n = 0;
        while (path[n] && path[n] != ':')
            n++;
        if (n + 258 < PATH_BUFFER) {
            size_t k = n;
            copy_bytes(out, path, n);
            if (k == 0)
                out[k++] = '.';
            out[k++] = '/';
            copy_bytes(out + k, file, length_of(file, 256) + 1);
            if (fast3(SYS_access, out, 1 /* X_OK */, 0) == 0)
                return 1;
        }
        path += n;
        if (*path == ':')
            path++;
    }
    return 0;
}

static int loads_after_search(const char *file)
{
    char found[PATH_BUFFER];
    return search_path(file, found) && loads_library(found, 0);
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    char *out[MAX_ENV + 2];
    char value[2 * PATH_BUFFER + PRELOAD_VAR_LENGTH + 2];
    char *const *env = with_library(envp, out, value, tracer_known() && loads_library(path, 0));
    return (int)set_errno(traced6(SYS_execve, (long)path, (long)argv, (long)env, 0, 0, 0));
}

EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

typedef int execvpe_fn(const char *, char *const[], char *const[]);

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    execvpe_fn *next = dlsym ? (execvpe_fn *)dlsym(NEXT, "execvpe") : 0;
    if (!next) {
        /* No libc function to hand the search to: the first candidate. */
        char found[PATH_BUFFER];
        if (!search_path(file, found))
            return (int)set_errno(-2 /* ENOENT */);
        return execve(found, argv, envp);
    }
    char *out[MAX_ENV + 2];
    char value[2 * PATH_BUFFER + PRELOAD_VAR_LENGTH + 2];
    return next(file, argv, with_library(envp, out, value, tracer_known() && loads_after_search(file)));
}

EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                     const posix_spawnattr_t *, char *const[], char *const[]);

static int spawn(const char *name, int search, pid_t *pid, const char *file,
                 const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
                 char *const argv[], char *const envp[])
{
    spawn_fn *next = dlsym ? (spawn_fn *)dlsym(NEXT, name) : 0;
    if (!next)
        return 38; /* ENOSYS: a glibc before 2.34 (without dlsym), see README */
    char *out[MAX_ENV + 2];
    char value[2 * PATH_BUFFER + PRELOAD_VAR_LENGTH + 2];
    int loads = tracer_known() && (search ? loads_after_search(file) : loads_library(file, 0));
    return next(pid, file, actions, attr, argv, with_library(envp, out, value, loads));
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn("posix_spawn", 0, pid, path, actions, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn("posix_spawnp", 1, pid, file, actions, attr, argv, envp);
}

/* execl, execle, execlp: their arguments gathered into an argv on the stack. */
#define MAX_ARGS 4096

static int gather(const char *first, va_list *args, char **argv)
{
    size_t argc = 0;
    argv[argc++] = (char *)first;
    while (argv[argc - 1]) {
        if (argc > MAX_ARGS)
            return 0;
        argv[argc++] = va_arg(*args, char *);
    }
    return 1;
}

EXPORT int execl(const char *path, const char *arg, ...)
{
    char *argv[MAX_ARGS + 1];
    va_list args;
    va_start(args, arg);
    int gathered = gather(arg, &args, argv);
    va_end(args);
    return gathered ? execve(path, argv, environ) : (int)set_errno(-7 /* E2BIG */);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    char *argv[MAX_ARGS + 1];
    va_list args;
    va_start(args, arg);
    int gathered = gather(arg, &args, argv);
    va_end(args);
    return gathered ? execvpe(file, argv, environ) : (int)set_errno(-7 /* E2BIG */);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    char *argv[MAX_ARGS + 1];
    va_list args;
    va_start(args, arg);
    int gathered = gather(arg, &args, argv);
    char *const *envp = gathered ? va_arg(args, char *const *) : 0;
    va_end(args);
    return gathered ? execve(path, argv, envp) : (int)set_errno(-7 /* E2BIG */);
}

/* ---- start-up ---------------------------------------------------------- */

/* The pid of this process's tracer, from /proc/self/status; 0 when untraced. */
static int tracer_pid(void)
{
    char status[4096];
    long fd = fast3(SYS_open, "/proc/self/status", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    long n = fast3(SYS_read, fd, status, sizeof status - 1);
    fast3(SYS_close, fd, 0, 0);
    if (n <= 0)
        return 0;
    status[n] = 0;
    for (long i = 0; i + 10 < n; i++) {
        if ((i == 0 || status[i - 1] == '\n') && starts_with(status + i, "TracerPid:", 10)) {
            long pid = 0;
            for (i += 10; status[i] == ' ' || status[i] == '\t'; i++)
                ;
            for (; status[i] >= '0' && status[i] <= '9'; i++)
                pid = pid * 10 + (status[i] - '0');
            return (int)pid;
        }
    }
    return 0;
}

/* Maps the page holding `endbr64; syscall; ret` at STUB_ADDR (an indirect-branch
 * target, for CPUs that check them); false when the address is taken. */
static int map_stub(void)
{
    long page = traced6(SYS_mmap, STUB_ADDR, 4096, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (page != (long)STUB_ADDR) {
        if (page > 0)
            traced6(SYS_munmap, page, 4096, 0, 0, 0, 0);
        return 0;
    }
    unsigned char *code = (unsigned char *)STUB_ADDR;
    static const unsigned char stub[] = {0xf3, 0x0f, 0x1e, 0xfa, /* endbr64 */
                                         0x0f, 0x05,             /* syscall */
                                         0xc3};                  /* ret */
    copy_bytes((char *)code, (const char *)stub, sizeof stub);
    return traced6(SYS_mprotect, STUB_ADDR, 4096, PROT_READ | PROT_EXEC, 0, 0, 0) == 0;
}

/* Opens and maps the tracer's ring; null when there is none to use. */
static struct ring_header *map_ring(int tracer)
{
    char name[64] = "/proc/";
    size_t n = 6;
    n += decimal(name + n, (unsigned long)tracer);
    copy_bytes(name + n, "/fd/", 4);
    n += 4;
    n += decimal(name + n, RING_FD);
    name[n] = 0;
    long fd = fast3(SYS_open, name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    size_t size = RING_HEADER_SIZE + (size_t)LANE_COUNT * LANE_SIZE;
    long at = fast6(SYS_mmap, 0, (long)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    fast3(SYS_close, fd, 0, 0);
    if (at < 0 && at > -4096)
        return 0;
    struct ring_header *header = (struct ring_header *)at;
    if (header->magic != RING_MAGIC || header->version != RING_VERSION ||
        header->lane_count != LANE_COUNT || header->lane_size != LANE_SIZE) {
        fast3(SYS_munmap, at, size, 0);
        return 0;
    }
    return header;
}

/* Finds the tracer and maps its ring, once per process (a forked child inherits
 * both). True once that is done; false while another thread does it, or a signal
 * handler interrupted this thread doing it: the caller then takes the traced path. */
static int attached(void)
{
    if (__atomic_load_n(&attach_state, __ATOMIC_ACQUIRE) == ATTACHED)
        return 1;
    int expected = NOT_ATTACHED;
    if (!have_stub || !__atomic_compare_exchange_n(&attach_state, &expected, ATTACHING, 0,
                                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;
    int saved = *__errno_location();
    int tracer = tracer_pid();
    traced = tracer != 0;
    if (traced)
        ring = map_ring(tracer);
    *__errno_location() = saved;
    __atomic_store_n(&attach_state, ATTACHED, __ATOMIC_RELEASE);
    return 1;
}

/* Whether a tracer watches this process, for an exec deciding whether its child gets
 * the library. Unknown (no stub, or another thread still looking) counts as yes: only
 * roard puts this library in LD_PRELOAD, and a child that finds no tracer does nothing. */
static int tracer_known(void)
{
    return attached() ? traced : 1;
}

__attribute__((constructor)) static void roar_preload_init(void)
{
    int saved = *__errno_location();
    hide_from_environ();
    have_stub = map_stub();
    *__errno_location() = saved;
}
