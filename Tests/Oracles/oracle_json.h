/*
 * oracle_json.h: JSON output shared by the test oracles (libbpf_inspect.c, libbpf_core.c).
 * Test-only, header-only: each oracle is one `cc` invocation, so the helpers are static.
 */
#ifndef SWIFT_LOAD_ORACLE_JSON_H
#define SWIFT_LOAD_ORACLE_JSON_H

#include <stdio.h>

/* Prints `text` to stdout as a JSON string literal (quotes, backslashes and control characters
 * escaped), or `null` when `text` is NULL. */
static void print_json_string(const char *text)
{
	if (!text) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		default:
			if (*p < 0x20)
				printf("\\u%04x", *p);
			else
				putchar(*p);
		}
	}
	putchar('"');
}

#endif
