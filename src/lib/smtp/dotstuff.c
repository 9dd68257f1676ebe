/* dotstuff.c - streaming dot-stuffing for the sending side of DATA. */
#include "smtp/dotstuff.h"

#include <string.h>

void
smtp_dotstuff_init(struct smtp_dotstuff *d)
{
	memset(d, 0, sizeof *d);
	d->bol = true;
}

size_t
smtp_dotstuff_feed(struct smtp_dotstuff *d, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0;
	bool bol = d->bol;
	for (size_t i = 0; i < n; i++) {
		/* RFC 5321 4.5.2: "If it is a period, one additional period
		 * is inserted at the beginning of the line." */
		if (bol && in[i] == '.')
			out[o++] = '.';
		/* The line runs to the next LF: copy it whole at once. */
		const uint8_t *lf = memchr(in + i, '\n', n - i);
		size_t e = lf ? (size_t)(lf - in) + 1 : n;
		memcpy(out + o, in + i, e - i);
		o += e - i;
		bol = lf != NULL;
		i = e - 1;
	}
	d->bol = bol;
	if (n >= 2) {
		d->last2[0] = in[n - 2];
		d->last2[1] = in[n - 1];
	} else if (n == 1) {
		d->last2[0] = d->last2[1];
		d->last2[1] = in[0];
	}
	d->in_total += n;
	return o;
}

size_t
smtp_dotstuff_end(struct smtp_dotstuff *d, uint8_t *out, bool *added_crlf_r)
{
	size_t o = 0;
	bool crlf = d->in_total >= 2 && d->last2[0] == '\r' && d->last2[1] == '\n';
	/* Empty content needs no line end: the "." is the first line. */
	*added_crlf_r = d->in_total > 0 && !crlf;
	if (*added_crlf_r) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o++] = '.';
	out[o++] = '\r';
	out[o++] = '\n';
	return o;
}
