/*
 * fuzz_config.c — libFuzzer target for the service configuration loader
 * (c2w_config_load), written to a memfd (fuzz_file.h) since it takes a path.
 *
 * After the load (successful or not: a refused load must still leave a
 * config that c2w_config_free releases), the lines of the input of the form
 * "#set KEY=VALUE" — YAML comments, so the loader ignores them — are applied
 * with c2w_config_set, as `--brokers`/`--group` are.
 *
 * Checked: a refusal leaves a message; the effective configuration dumps,
 * and when the load succeeded and nothing in it is a secret (secrets dump
 * as "(redacted)"), the dump loads again into the same configuration
 * (dump -> load -> dump is a fixed point). After the "#set" lines (any
 * bytes, not only UTF-8) the dump must still load.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2watch/config.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                        \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "fuzz_config: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
            abort();                                                                                       \
        }                                                                                                  \
    } while (0)

#define SET_MARK "#set "
#define MAX_SETS 8

static bool has_secret(const c2w_props_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (c2w_config_is_secret(p->keys[i]))
            return true;
    return false;
}

/* Applies the "#set KEY=VALUE" lines of data. */
static void apply_sets(c2w_config_t *cfg, const uint8_t *data, size_t size)
{
    char line[512], err[512];
    int n = 0;
    const uint8_t *p = data, *end = data + size;
    while (p < end && n < MAX_SETS) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > strlen(SET_MARK) && len < sizeof(line) && memcmp(p, SET_MARK, strlen(SET_MARK)) == 0) {
            memcpy(line, p + strlen(SET_MARK), len - strlen(SET_MARK));
            line[len - strlen(SET_MARK)] = '\0';
            char *eq = strchr(line, '=');
            if (eq) {
                *eq = '\0';
                err[0] = 'x';
                if (c2w_config_set(cfg, line, eq + 1, err, sizeof(err)) != 0)
                    CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
                n++;
            }
        }
        p = nl ? nl + 1 : end;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    c2w_config_t cfg;
    char err[512];
    CHECK(c2w_config_defaults(&cfg) == 0);
    memset(err, 0x5a, sizeof(err));
    int rc = c2w_config_load(&cfg, fuzz_file(data, size), err, sizeof(err));
    if (rc != 0)
        CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');

    c2w_buf_t dump = { 0 }, again = { 0 };
    CHECK(c2w_config_dump(&cfg, &dump) == 0 && dump.len > 0);
    if (rc == 0 && !has_secret(&cfg.props) && !has_secret(&cfg.consumer_props)
        && !has_secret(&cfg.producer_props)) {
        c2w_config_t back;
        CHECK(c2w_config_defaults(&back) == 0);
        if (c2w_config_load(&back, fuzz_file((const uint8_t *)dump.data, dump.len), err, sizeof(err)) != 0) {
            fprintf(stderr, "fuzz_config: the dump does not load: %s\n--- dump\n%s---\n", err, dump.data);
            abort();
        }
        CHECK(c2w_config_dump(&back, &again) == 0);
        if (again.len != dump.len || memcmp(again.data, dump.data, dump.len) != 0) {
            fprintf(stderr, "fuzz_config: dump, load, dump differs\n--- first\n%s--- second\n%s---\n", dump.data,
                    again.data);
            abort();
        }
        c2w_config_free(&back);
    }
    /* c2w_config_set takes any bytes (not only UTF-8, unlike a file): the
     * dump must still be YAML, but need not load back the same. */
    apply_sets(&cfg, data, size);
    c2w_buf_reset(&dump);
    CHECK(c2w_config_dump(&cfg, &dump) == 0 && dump.len > 0);
    c2w_config_t back;
    CHECK(c2w_config_defaults(&back) == 0);
    if (c2w_config_load(&back, fuzz_file((const uint8_t *)dump.data, dump.len), err, sizeof(err)) != 0
        && strstr(err, "redacted") == NULL) {
        fprintf(stderr, "fuzz_config: the dump after c2w_config_set does not load: %s\n--- dump\n%s---\n", err,
                dump.data);
        abort();
    }
    c2w_config_free(&back);
    c2w_buf_free(&dump);
    c2w_buf_free(&again);
    c2w_config_free(&cfg);
    return 0;
}
