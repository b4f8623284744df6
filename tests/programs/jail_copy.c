/* Run inside a chroot by tests/tests/namespaces.rs: reads /data/link (an absolute
 * symlink to /data/real.txt, which only means the jail's file inside the jail) and,
 * after chdir("/work"), rel.txt; writes both to out.txt, and creates a file through
 * /data/dangling, an absolute symlink to /data/made.txt that does not exist yet. Built
 * static, so the jail needs no libraries. */
#include <fcntl.h>
#include <unistd.h>

static long copy(int from, int to) {
    char buffer[256];
    long n = read(from, buffer, sizeof buffer);
    return n > 0 ? write(to, buffer, (size_t)n) : n;
}

int main(void) {
    int link = open("/data/link", O_RDONLY);
    if (link < 0 || chdir("/work") != 0)
        return 1;
    int rel = open("rel.txt", O_RDONLY);
    int out = open("out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (rel < 0 || out < 0)
        return 2;
    if (copy(link, out) < 0 || copy(rel, out) < 0)
        return 3;
    int made = open("/data/dangling", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (made < 0 || write(made, "made\n", 5) != 5)
        return 4;
    return 0;
}
