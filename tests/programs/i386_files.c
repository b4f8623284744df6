/* A 32-bit (i386) program without libc, so it builds with a plain x86_64 gcc
 * (`gcc -m32 -nostdlib -static`): raw syscalls through `int $0x80`, numbered by the
 * i386 table. It reads in.txt, calls readlink (85) and getrusage (77), which are
 * creat and ftruncate under x86_64 numbering, and writes out.txt. */

static long sys3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

enum { SYS_EXIT = 1, SYS_READ = 3, SYS_WRITE = 4, SYS_OPEN = 5, SYS_CLOSE = 6,
       SYS_GETRUSAGE = 77, SYS_READLINK = 85 };

void _start(void) {
    char data[64];
    char scratch[256];
    long fd = sys3(SYS_OPEN, (long)"in.txt", 0 /* O_RDONLY */, 0);
    long n = fd >= 0 ? sys3(SYS_READ, fd, (long)data, sizeof data) : 0;
    sys3(SYS_CLOSE, fd, 0, 0);
    sys3(SYS_READLINK, (long)"in.txt", (long)scratch, sizeof scratch);
    sys3(SYS_GETRUSAGE, 0 /* RUSAGE_SELF */, (long)scratch, 0);
    long out = sys3(SYS_OPEN, (long)"out.txt", 01101 /* O_WRONLY|O_CREAT|O_TRUNC */, 0644);
    sys3(SYS_WRITE, out, (long)data, n > 0 ? n : 0);
    sys3(SYS_CLOSE, out, 0, 0);
    sys3(SYS_EXIT, 0, 0, 0);
}
