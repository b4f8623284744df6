/* The lane code of roar_preload.c under load, for `fast_ring`'s tests: THREADS threads
 * (and, in each, a forked child) commit RECORDS records each, through the library's
 * own functions, into the ring of the process that started this one (its parent holds
 * it at RING_FD). A full lane is waited on, as the tracer drains it meanwhile: records
 * wrap around the end of their lane many times. Names vary in length (1 to 300 bytes),
 * so records straddle the wrap point. */
#define _GNU_SOURCE
#include <stdio.h>

#include "../roar_preload.c"

#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define RECORDS 3000

static void commit_all(int who)
{
    char name[400];
    for (int i = 0; i < RECORDS; i++) {
        size_t n = 1 + (size_t)((i * 37 + who * 11) % 300);
        for (size_t k = 0; k < n; k++)
            name[k] = (char)('a' + (k + (size_t)i) % 26);
        int prefix = snprintf(name, sizeof name, "%d:%d:", who, i);
        if ((size_t)prefix > n)
            n = (size_t)prefix;
        struct lane_header *lane;
        while (!(lane = my_lane()) || !has_room(lane, n, n))
            usleep(100);
        commit(lane, RECORD_READ, 0, name, n, name, n, 0);
    }
}

static void *thread_main(void *arg)
{
    int who = (int)(long)arg;
    pid_t child = fork();
    if (child == 0) {
        commit_all(who + 1000);
        _exit(0);
    }
    commit_all(who);
    waitpid(child, 0, 0);
    return 0;
}

int main(void)
{
    ring = map_ring(getppid());
    if (!ring)
        return 2;
    pthread_t ids[THREADS];
    for (long t = 0; t < THREADS; t++)
        pthread_create(&ids[t], 0, thread_main, (void *)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(ids[t], 0);
    return 0;
}
