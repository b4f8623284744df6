/*
 * The shared-memory ring between the fast path (roar_preload.c, in the job's
 * processes) and the job's tracer (roard/src/tracer/fast_ring.rs, which mirrors
 * these numbers; a test checks that the two agree).
 *
 * One memfd per job, created by the tracer helper and kept at descriptor
 * RING_FD there; a process of the job opens it as /proc/TRACERPID/fd/RING_FD.
 *
 *   page 0      header
 *   then        lane_count lanes of lane_size bytes each
 *
 * A lane belongs to one thread at a time (owner = its tid), so every lane has a
 * single writer (that thread) and a single reader (the tracer): the writer
 * appends records and then publishes `head`; the tracer reads up to `head` and
 * publishes `tail`. A record is written only after its call returned, so the
 * tracer never sees a call whose result is unknown. Records carry a sequence
 * number from the header's shared counter: the tracer merges all lanes by it.
 */
#ifndef ROAR_RING_H
#define ROAR_RING_H

#include <stdint.h>

#define RING_MAGIC 0x474e5252414f52ULL /* "ROARRNG" */
#define RING_VERSION 2u
#define RING_FD 1023
#define RING_HEADER_SIZE 4096u
#define LANE_HEADER_SIZE 128u
#define LANE_DATA_SIZE 65536u /* a power of two: offsets wrap with a mask */
#define LANE_SIZE (LANE_HEADER_SIZE + LANE_DATA_SIZE)
#define LANE_COUNT 1024u

/* Programs the library does not pay for in this job (see `skipped` below). */
#define SKIPPED_MAX 128u

/* Where the fast path's stub lives in every process: `endbr64; syscall; ret`, so
 * the kernel reports its calls at STUB_ADDR + 6. */
#define STUB_ADDR 0x7a300000UL

struct ring_header {
    uint64_t magic;
    uint32_t version;
    uint32_t lane_count;
    uint32_t lane_size;
    /* 1 while calls may take the fast path; the tracer clears it to send every
     * call of the job through ptrace (a task changed its root, say). */
    uint32_t enabled;
    /* The next record's sequence number. */
    uint64_t seq;
    /* Lanes ever claimed: the tracer reads no further. */
    uint32_t lanes_used;
    uint32_t reserved;
    /* Records published, ever: counted after each is published, so the tracer can
     * skip reading the lanes while it has not moved (`seq` is taken before). */
    uint64_t published;
    /* Programs that ran with the library in this job, recorded nothing through it
     * and started no other program: an exec of one of them (by device and inode)
     * does not pass the library on, so it spares ld.so's open of the library, a
     * stop. Written by the tracer only; the first `skipped_count` entries hold. A
     * torn read changes one exec's speed, never a record: every call of a process
     * without the library is traced. */
    uint32_t skipped_count;
    uint32_t reserved2;
    struct {
        uint64_t dev;
        uint64_t ino;
    } skipped[SKIPPED_MAX];
};

struct lane_header {
    uint32_t owner; /* tid, 0 when free */
    uint32_t reserved;
    uint64_t head; /* bytes published, ever (the writer's) */
    uint8_t pad[48];
    uint64_t tail; /* bytes consumed, ever (the tracer's), on its own cache line */
};

enum record_kind {
    RECORD_READ = 1,   /* a read-only open that succeeded */
    RECORD_CREATE = 2, /* an O_CREAT|O_EXCL open that created its file */
};

/* The opened file's name could not be read; the record carries no path. */
#define RECORD_NO_PATH 1u

struct record_header {
    uint32_t length; /* header and both names, rounded up to 8 */
    uint16_t kind;
    uint16_t flags;
    uint64_t seq;
    int32_t tid;
    int32_t open_flags;
    uint32_t named_length; /* the name the program passed */
    uint32_t path_length;  /* what the kernel opened: /proc/self/fd/N's target */
};

#endif
