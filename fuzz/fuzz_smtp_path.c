/* fuzz_smtp_path.c - the MAIL FROM / RCPT TO argument parser
 * (smtp_path_parse), the ESMTP parameter scanner, xtext decoding of
 * parameter values (AUTH=, ORCPT=) and the domain helpers, on
 * arbitrary bytes. */
#include "fuzz.h"

#include "smtp/addr.h"
#include "smtp/xtext.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct fuzz_in in = { data, size };
	bool allow_null = fuzz_take_byte(&in) & 1;
	char *copy = fuzz_copy(in.p, in.n, 0);
	struct span arg = { copy, in.n };
	char mailbox[SMTP_PATH_MAX + 1];
	struct span params;
	const char *why = NULL;
	if (smtp_path_parse(arg, allow_null, mailbox, &params, &why) == SMTP_ADDR_OK) {
		FUZZ_CHECK(strlen(mailbox) <= SMTP_PATH_MAX);
		const char *dom = smtp_addr_domain(mailbox);
		FUZZ_CHECK(*dom == '\0' || (dom > mailbox && dom <= mailbox + strlen(mailbox)));
		(void)smtp_domain_in_list(dom, "example.test, Example.ORG other.test");
		struct smtp_param p;
		int rc;
		unsigned guard = 0;
		while ((rc = smtp_param_take(&params, &p)) == 1 && guard++ < 4096) {
			FUZZ_CHECK(p.key.p >= copy && p.key.p + p.key.n <= copy + in.n);
			struct buf out;
			buf_init(&out, SMTP_PATH_MAX * 2);
			(void)smtp_xtext_decode(p.value, &out);
			buf_free(&out);
		}
	} else {
		FUZZ_CHECK(why != NULL);
	}
	free(copy);
	return 0;
}
