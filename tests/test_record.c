/* test_record.c — value types: IPs, times, durations, JSON escaping, ids. */
#include <criterion/criterion.h>
#include <string.h>

#include "c2watch/alert.h"
#include "c2watch/record.h"

static c2w_time_t text_time(const char *s)
{
    c2w_time_t t = 0;
    cr_assert(c2w_time_parse_text(s, strlen(s), &t), "parse %s", s);
    return t;
}

Test(record, time_text_forms_agree)
{
    c2w_time_t z = 1521911721789543LL; /* 2018-03-24T17:15:21.789543Z */
    cr_assert_eq(text_time("2018-03-24T17:15:21.789543Z"), z);
    cr_assert_eq(text_time("2018-03-24T19:15:21.789543+02:00"), z);
    cr_assert_eq(text_time("2018-03-24T19:15:21.789543+0200"), z);
    cr_assert_eq(text_time("2018-03-24T12:15:21.789543-05:00"), z);
    cr_assert_eq(text_time("2018-03-24 17:15:21.789543"), z);
    cr_assert_eq(text_time("2023-08-16 00:36:50.070"), 1692146210070000LL);
    cr_assert_eq(text_time("2024-02-29T00:00:00Z"), 1709164800LL * C2W_USEC);
}

Test(record, time_text_rejects)
{
    const char *bad[] = { "", "2018-03-24", "2018-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2018-03-24T25:00:00Z",
                          "2018-03-24T17:15:21.Z", "2018-03-24T17:15:21Zjunk", "2018/03/24 17:15:21",
                          "2018-03-24T17:15:21+2", "abc" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c2w_time_t t;
        cr_assert_not(c2w_time_parse_text(bad[i], strlen(bad[i]), &t), "accepted '%s'", bad[i]);
    }
}

/* The parser reads the date and clock at fixed positions; these are the
 * edges of Sysmon's spelling, each with the value (or the refusal) the
 * spec's RFC 3339 / Sysmon reading gives. */
Test(record, time_text_sysmon_spelling)
{
    c2w_time_t base = 1795852802LL * C2W_USEC; /* 2026-11-28 08:00:02 UTC */
    cr_assert_eq(text_time("2026-11-28 08:00:02"), base);
    cr_assert_eq(text_time("2026-11-28 08:00:02.943"), base + 943000);
    cr_assert_eq(text_time("2026-11-28t08:00:02.9"), base + 900000);
    cr_assert_eq(text_time("2026-11-28 08:00:02,5"), base + 500000, "comma as the decimal mark");
    cr_assert_eq(text_time("2026-11-28 08:00:02.123456789"), base + 123456, "past the microsecond: truncated");
    cr_assert_eq(text_time("2026-11-28 08:00:02.1234567891"), base + 123456, "ten digits: the general path");
    cr_assert_eq(text_time("2026-11-28 08:00:60"), base + 58 * C2W_USEC, "a leap second");
    cr_assert_eq(text_time("2024-02-29 12:00:00.000"), 1709208000LL * C2W_USEC);
    cr_assert_eq(text_time("2026-11-28 09:00:02.943+01:00"), base + 943000, "an offset: the general path");
    const char *bad[] = { "2023-02-29 00:00:00.000", "2026-11-31 00:00:00", "2026-00-10 00:00:00", "2026-11-28 24:00:00",
                          "2026-11-28 08:60:00", "2026-11-28 08:00:61", "2026-11-28 08:00:02.", "2026-11-28 0a:00:02",
                          "2026-11-28 08:00:02.9x", "2026-11-28  8:00:02", "2026-11-28 08:00:02 ", "+026-11-28 08:00:02",
                          "2026-11-28_08:00:02" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c2w_time_t t;
        cr_assert_not(c2w_time_parse_text(bad[i], strlen(bad[i]), &t), "accepted '%s'", bad[i]);
    }
}

Test(record, time_epoch_exact)
{
    c2w_time_t t;
    cr_assert(c2w_time_parse_epoch("1692146028.495991", 17, &t));
    cr_assert_eq(t, 1692146028495991LL);
    cr_assert(c2w_time_parse_epoch("1692146028", 10, &t));
    cr_assert_eq(t, 1692146028000000LL);
    cr_assert(c2w_time_parse_epoch("1692146028.4959919999", 21, &t));
    cr_assert_eq(t, 1692146028495991LL, "digits past the microsecond are truncated");
    cr_assert(c2w_time_parse_epoch("1.692146028e9", 13, &t));
    cr_assert_eq(t, 1692146028000000LL);
    cr_assert_not(c2w_time_parse_epoch("1e400", 5, &t));
    cr_assert_not(c2w_time_parse_epoch("12a", 3, &t));
    cr_assert_not(c2w_time_parse_epoch("99999999999999999999999", 23, &t));
}

Test(record, time_validity_bounds)
{
    cr_assert(c2w_time_valid(C2W_TIME_MIN));
    cr_assert_not(c2w_time_valid(C2W_TIME_MIN - 1));
    cr_assert(c2w_time_valid(C2W_TIME_MAX - 1));
    cr_assert_not(c2w_time_valid(C2W_TIME_MAX));
    cr_assert_not(c2w_time_valid(0));
}

Test(record, time_format_roundtrip)
{
    char buf[40];
    cr_assert_str_eq(c2w_time_format(1764324000123456LL, buf), "2025-11-28T10:00:00.123456Z");
    cr_assert_str_eq(c2w_time_format(C2W_TIME_MIN, buf), "2000-01-01T00:00:00.000000Z");
    c2w_time_t t = text_time("2099-12-31T23:59:59.999999Z");
    cr_assert_str_eq(c2w_time_format(t, buf), "2099-12-31T23:59:59.999999Z");
}

Test(record, ip_canonical_forms)
{
    c2w_ip_t a, b;
    char buf[C2W_IP_STRLEN];
    cr_assert(c2w_ip_parse("fe80:0:0:0:1:2:3:4", 18, &a));
    cr_assert(c2w_ip_parse("fe80::1:2:3:4", 13, &b));
    cr_assert(c2w_ip_equal(&a, &b));
    cr_assert_str_eq(c2w_ip_format(&a, buf), "fe80::1:2:3:4");
    cr_assert(c2w_ip_parse("::ffff:192.168.1.4", 18, &a));
    cr_assert_eq(a.family, 4, "IPv4-mapped is stored as IPv4");
    cr_assert_str_eq(c2w_ip_format(&a, buf), "192.168.1.4");
    cr_assert(c2w_ip_parse("::FFFF:10.0.0.255", 17, &b));
    cr_assert_eq(b.family, 4);
    cr_assert_str_eq(c2w_ip_format(&b, buf), "10.0.0.255");
    cr_assert(c2w_ip_parse("0:0:0:0:0:ffff:192.168.1.4", 26, &b), "the long spelling of a mapped address");
    cr_assert(c2w_ip_equal(&a, &b));
    cr_assert_not(c2w_ip_parse("::ffff:01.2.3.4", 15, &a), "a leading zero in the dotted part");
    cr_assert_not(c2w_ip_parse("::ffff:1.2.3.256", 16, &a));
    cr_assert_not(c2w_ip_parse("::ffff:1.2.3.4.", 15, &a));
    cr_assert_not(c2w_ip_parse("01.2.3.4", 8, &a), "a leading zero");
    cr_assert_not(c2w_ip_parse("1.2.3.4 ", 8, &a));
    cr_assert_not(c2w_ip_parse("1.2.3.1234", 10, &a));
    cr_assert(c2w_ip_parse("0.0.0.0", 7, &a));
    cr_assert(c2w_ip_parse("255.255.255.255", 15, &a));
    cr_assert_str_eq(c2w_ip_format(&a, buf), "255.255.255.255");
    cr_assert_not(c2w_ip_parse("256.1.1.1", 9, &a));
    cr_assert_not(c2w_ip_parse("1.2.3", 5, &a));
    cr_assert_not(c2w_ip_parse("", 0, &a));
    cr_assert_not(c2w_ip_parse("fe80::1%eth0", 12, &a));
    cr_assert_not(c2w_ip_parse("1.2.3.4\0", 8, &a), "embedded NUL");
}

Test(record, durations)
{
    c2w_time_t d;
    cr_assert(c2w_duration_parse("24h", &d));
    cr_assert_eq(d, 86400LL * C2W_USEC);
    cr_assert(c2w_duration_parse("90s", &d));
    cr_assert_eq(d, 90LL * C2W_USEC);
    cr_assert(c2w_duration_parse("500ms", &d));
    cr_assert_eq(d, 500000);
    cr_assert(c2w_duration_parse("1d", &d));
    cr_assert_eq(d, 86400LL * C2W_USEC);
    const char *bad[] = { "", "0s", "h", "24", "24hours", "-1h", "1.5h", "24 h", "99999999999d" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(c2w_duration_parse(bad[i], &d), "accepted '%s'", bad[i]);
}

Test(record, field_catalog)
{
    cr_assert_eq(c2w_field_lookup("RemotePort"), C2W_F_REMOTE_PORT);
    cr_assert_eq(c2w_field_type(C2W_F_REMOTE_PORT), C2W_T_INT);
    cr_assert_eq(c2w_field_lookup("remoteport"), -1, "names are case-sensitive");
    cr_assert_eq(c2w_field_lookup("Nope"), -1);
    for (int f = 0; f < C2W_F_COUNT; f++)
        cr_assert_eq(c2w_field_lookup(c2w_field_name((c2w_field_t)f)), f);
    cr_assert_str_eq(c2w_path_basename("C:\\Users\\Public\\outlook.exe"), "outlook.exe");
    cr_assert_str_eq(c2w_path_basename("/usr/bin/python3"), "python3");
    cr_assert_str_eq(c2w_path_basename("eM Client.exe"), "eM Client.exe");
}

Test(alert, json_escaping_of_hostile_strings)
{
    c2w_buf_t b = { 0 };
    cr_assert_eq(c2w_json_string(&b, "a\"b\\c\nd\te\x01\x1f/\xc3\xa9"), 0);
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f/\xc3\xa9\"");
    c2w_buf_free(&b);
}

Test(alert, id_is_deterministic_and_sensitive)
{
    char a[33], b[33], c[33], d[33];
    c2w_alert_make_id("R1", "WS1|evil.exe|1.2.3.4|25", 1000, "C1", a);
    c2w_alert_make_id("R1", "WS1|evil.exe|1.2.3.4|25", 1000, "C1", b);
    c2w_alert_make_id("R1", "WS1|evil.exe|1.2.3.4|25", 1001, "C1", c);
    c2w_alert_make_id("R2", "WS1|evil.exe|1.2.3.4|25", 1000, "C1", d);
    cr_assert_eq(strlen(a), 32);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
    cr_assert_str_neq(a, d);
}
