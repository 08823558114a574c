/*
 * fuzz_file.h — hands a fuzz input to a loader that only takes a path
 * (c2w_ruleset_load, c2w_config_load). The bytes go to one memfd per
 * process, rewritten for every input and opened by the loader through
 * /proc/self/fd/N; where memfds are missing, to a temporary file instead.
 * Nothing accumulates between runs. Include once, from a target.
 */
#ifndef C2W_FUZZ_FILE_H
#define C2W_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fuzz_fd = -1;
static char fuzz_path[64];
static char fuzz_tmp[64]; /* the temporary file's name, removed at exit */

static void fuzz_file_cleanup(void)
{
    if (fuzz_tmp[0])
        unlink(fuzz_tmp);
}

/* Writes all of data to fd at offset 0 and cuts the file there. */
static int fuzz_write_all(int fd, const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t k = pwrite(fd, data + done, size - done, (off_t)done);
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

/* The path of a file holding exactly data; aborts when none can be made. */
static const char *fuzz_file(const uint8_t *data, size_t size)
{
    if (fuzz_fd < 0) {
#ifdef MFD_CLOEXEC
        fuzz_fd = memfd_create("c2w-fuzz", MFD_CLOEXEC);
        if (fuzz_fd >= 0)
            snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
#endif
        if (fuzz_fd < 0 || access(fuzz_path, R_OK) != 0) {
            if (fuzz_fd >= 0)
                close(fuzz_fd);
            const char *dir = getenv("TMPDIR");
            snprintf(fuzz_tmp, sizeof(fuzz_tmp), "%s/c2w-fuzz-XXXXXX", dir && *dir && strlen(dir) < 40 ? dir : "/tmp");
            fuzz_fd = mkstemp(fuzz_tmp);
            if (fuzz_fd < 0) {
                perror("fuzz: mkstemp");
                abort();
            }
            snprintf(fuzz_path, sizeof(fuzz_path), "%s", fuzz_tmp);
            atexit(fuzz_file_cleanup);
        }
    }
    if (fuzz_write_all(fuzz_fd, data, size) != 0) {
        perror("fuzz: write");
        abort();
    }
    return fuzz_path;
}

#endif
