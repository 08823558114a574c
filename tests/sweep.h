/*
 * sweep.h — allocation-failure sweeps for the test suites.
 *
 * Outside the sanitizer build, a test binary that includes this header
 * wraps malloc/calloc/realloc/free (forwarding to the C library's, found
 * with dlsym(RTLD_NEXT)), so that a test can make the Nth allocation of
 * its thread fail and count the blocks still live afterwards:
 *
 *     for (n = 0;; n++) {
 *         sweep_start(n);              // allocation n (0-based) will fail
 *         ... code under test, then free what it returned ...
 *         sweep_stop();
 *         cr_assert_eq(sweep_live, 0);  // nothing left behind
 *         if (!sweep_reached(n))
 *             break;                    // allocation n never happened: done
 *     }
 *
 * Only allocations made while the sweep is on are counted (calls, live
 * blocks) and only those can fail. ASan has its own allocator and does not
 * let another one stand in front of it: there SWEEP is left undefined, the
 * sweeps skip themselves (cr_skip_test) and LeakSanitizer does the leak
 * counting instead.
 *
 * The wrappers are external definitions: include this header from exactly
 * one translation unit of a test binary (each tests/test_*.c is a binary of
 * its own), before any other code allocates. Define _GNU_SOURCE before the
 * first system header (for RTLD_NEXT).
 */
#ifndef C2WATCH_TESTS_SWEEP_H
#define C2WATCH_TESTS_SWEEP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define SWEEP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SWEEP_ASAN 1
#endif
#endif

#if !defined(SWEEP_ASAN)
#define SWEEP 1

#include <dlfcn.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int sweep_init_busy;
static _Alignas(16) char sweep_boot[8192]; /* for dlsym's own calloc */
static size_t sweep_boot_used;
static _Thread_local int sweep_on; /* count (and fail) allocations */
static _Thread_local long sweep_fail_at; /* 0-based index of the allocation to fail; -1 none */
static _Thread_local long sweep_calls; /* allocations seen since sweep_start */
static _Thread_local long sweep_live; /* blocks allocated minus blocks freed since sweep_start */

static inline void sweep_init(void)
{
    sweep_init_busy = 1;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    sweep_init_busy = 0;
}

static inline bool sweep_boot_ptr(const void *p)
{
    return (const char *)p >= sweep_boot && (const char *)p < sweep_boot + sizeof(sweep_boot);
}

/* true: this allocation must fail (errno is ENOMEM, as the C library's
 * allocator leaves it) */
static inline bool sweep_fail(void)
{
    if (!(sweep_on && sweep_calls++ == sweep_fail_at))
        return false;
    errno = ENOMEM;
    return true;
}

void *malloc(size_t n)
{
    if (!real_malloc)
        sweep_init();
    if (sweep_fail())
        return NULL;
    void *p = real_malloc(n);
    if (p && sweep_on)
        sweep_live++;
    return p;
}

void *calloc(size_t a, size_t b)
{
    if (!real_calloc) {
        if (sweep_init_busy) {
            size_t n = (a * b + 15) & ~(size_t)15;
            if (sweep_boot_used + n > sizeof(sweep_boot))
                return NULL;
            void *p = sweep_boot + sweep_boot_used;
            sweep_boot_used += n;
            return p; /* static storage: already zero */
        }
        sweep_init();
    }
    if (sweep_fail())
        return NULL;
    void *p = real_calloc(a, b);
    if (p && sweep_on)
        sweep_live++;
    return p;
}

void *realloc(void *old, size_t n)
{
    if (!real_realloc)
        sweep_init();
    if (n > 0 && sweep_fail())
        return NULL;
    void *p = real_realloc(old, n);
    if (sweep_on) {
        if (!old && p)
            sweep_live++;
        else if (old && n == 0)
            sweep_live--;
    }
    return p;
}

void free(void *p)
{
    if (!p || sweep_boot_ptr(p))
        return;
    if (!real_free)
        sweep_init();
    if (sweep_on)
        sweep_live--;
    real_free(p);
}

/* Starts counting with allocation fail_at (0-based) set to fail; -1 fails
 * none (a dry run that only counts). */
static inline void sweep_start(long fail_at)
{
    sweep_calls = 0;
    sweep_live = 0;
    sweep_fail_at = fail_at;
    sweep_on = 1;
}

/* Stops counting (and failing); sweep_calls and sweep_live keep their values. */
static inline void sweep_stop(void)
{
    sweep_on = 0;
}

/* Resumes counting after sweep_stop, keeping the counts. */
static inline void sweep_resume(void)
{
    sweep_on = 1;
}

/* True when allocation n happened (and so failed) since sweep_start(n). */
static inline bool sweep_reached(long n)
{
    return sweep_calls > n;
}
#endif /* !SWEEP_ASAN */

#endif
