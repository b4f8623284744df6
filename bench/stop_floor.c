// stop_floor: the least any SECCOMP_RET_TRACE tracer can cost, for bench/tracer.py.
//
// Usage: stop_floor COMMAND [ARG...]
//
// Runs COMMAND under the same kind of trace roard uses: a seccomp-BPF filter that
// stops the tracee (SECCOMP_RET_TRACE) on the same system calls as roard's x86_64 table
// (roard/src/tracer/syscalls.rs), and ptrace following every fork, vfork, clone and
// exec. At each stop it reads the registers and the path argument with
// process_vm_readv, and does nothing else: no bookkeeping, no record. The difference
// between this and the native command is the price of the mechanism itself on this
// machine; the difference between roar and this is what roar adds.
//
// It waits for stops as roard does (roard/src/tracer/event_loop.rs): while the job has
// no more live tasks than there are CPUs it polls for up to POLL_US microseconds,
// yielding between polls, before it blocks (waking a blocked tracer on another CPU
// costs more than the stop itself on small virtual machines). It exits with the
// command's own status.

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#ifndef __x86_64__
#error "stop_floor mirrors roard's x86_64 syscall table"
#endif

#define POLL_US 300

// (syscall number, index of its path argument) as in roard's table; -1: no path.
static const int TRACED[][2] = {
    {2, 0},   {257, 1}, {437, 1}, {85, 0},  {82, 0},  {264, 1}, {316, 1},
    {86, 1},  {265, 3}, {87, 0},  {263, 1}, {76, 0},  {77, -1},
};
#define NTRACED (sizeof TRACED / sizeof TRACED[0])

static void install_filter(void) {
    struct sock_filter code[4 + NTRACED + 2];
    size_t n = 0;
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                             offsetof(struct seccomp_data, arch));
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64,
                                             1, 0);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    // Each of the NTRACED jumps goes, when it matches, to the RET_TRACE that follows
    // the final RET_ALLOW.
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                             offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < NTRACED; i++) {
        unsigned char to_trace = (unsigned char)(NTRACED - i);
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                 (unsigned)TRACED[i][0], to_trace, 0);
    }
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
        perror("stop_floor: seccomp");
        _exit(127);
    }
}

static unsigned long long arg(const struct user_regs_struct *r, int i) {
    switch (i) {
    case 0: return r->rdi;
    case 1: return r->rsi;
    case 2: return r->rdx;
    default: return r->r10;
    }
}

// What roard must do at every stop, and nothing more: the registers and the path.
static void read_path(pid_t pid) {
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, pid, 0, &regs) != 0) return;
    for (size_t i = 0; i < NTRACED; i++) {
        if ((unsigned long long)TRACED[i][0] != regs.orig_rax || TRACED[i][1] < 0) continue;
        static char path[4096];
        unsigned long long at = arg(&regs, TRACED[i][1]);
        // Up to the end of the page the path starts in, as roard reads first.
        size_t len = 4096 - (size_t)(at & 4095);
        struct iovec local = {path, len}, remote = {(void *)at, len};
        process_vm_readv(pid, &local, 1, &remote, 1, 0);
        return;
    }
}

static long long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static pid_t next_stop(int *status, int poll) {
    long long until = now_us() + (poll ? POLL_US : 0);
    for (;;) {
        pid_t pid = waitpid(-1, status, __WALL | WNOHANG);
        if (pid != 0) return pid;
        if (now_us() >= until) return waitpid(-1, status, __WALL);
        sched_yield();
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: stop_floor COMMAND [ARG...]\n");
        return 2;
    }
    pid_t root = fork();
    if (root < 0) {
        perror("stop_floor: fork");
        return 127;
    }
    if (root == 0) {
        raise(SIGSTOP);  // held until the tracer has seized it
        install_filter();
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    int status;
    if (waitpid(root, &status, WUNTRACED) != root || !WIFSTOPPED(status)) return 127;
    long options = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                   PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
    if (ptrace(PTRACE_SEIZE, root, 0, options) != 0) {
        perror("stop_floor: PTRACE_SEIZE");
        kill(root, SIGKILL);
        return 127;
    }
    kill(root, SIGCONT);
    int exit_status = 127;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long live = 1;  // tasks traced and not yet exited
    for (;;) {
        pid_t pid = next_stop(&status, live <= cpus);
        if (pid < 0) break;  // ECHILD: nothing left to trace
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            live--;
            if (pid == root)
                exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            continue;
        }
        if (!WIFSTOPPED(status)) continue;
        int event = status >> 16, sig = WSTOPSIG(status);
        int deliver = 0;
        if (event == PTRACE_EVENT_SECCOMP) {
            read_path(pid);
        } else if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK ||
                   event == PTRACE_EVENT_CLONE) {
            live++;
        } else if (event == PTRACE_EVENT_STOP) {
            // A group stop (or a new child's first stop): let it stop like untraced.
            if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
                ptrace(PTRACE_LISTEN, pid, 0, 0);
                continue;
            }
        } else if (event == 0 && sig != SIGTRAP) {
            deliver = sig;  // a signal for the tracee
        }
        ptrace(PTRACE_CONT, pid, 0, deliver);
    }
    return exit_status;
}
