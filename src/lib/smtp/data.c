/* data.c - the DATA phase reader: a byte-level state machine.
 *
 * RFC 5321 4.1.1.4: "... the mail data is terminated by a line
 * containing only a period, that is, the character sequence
 * "<CRLF>.<CRLF>", where the first <CRLF> is actually the terminator of
 * the previous line".  The DATA command line itself ends with CRLF, so
 * the reader starts at a line start and ".\r\n" at once is an empty
 * message.
 *
 * Only a CR LF pair ends a line.  A bare LF or a bare CR is an error
 * (RFC 5321 2.3.8: "... the character sequence <CR><LF> ... MUST be
 * used for line terminators"), and it never puts the reader at a line
 * start: "\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n" and "\r\n.\rX" all
 * leave the reader inside a line, so none of them ends the data
 * (the 2023 SMTP smuggling attacks).  Line numbers count CRLF lines.
 */
#include "smtp/data.h"

#include "util/buf.h"

enum data_state {
	ST_LINE_START,	/* after CRLF (or at the start) */
	ST_IN_LINE,
	ST_CR,		/* after a CR inside a line; CR not yet emitted */
	ST_DOT,		/* after a "." at line start; dot not yet emitted */
	ST_DOT_CR,	/* after ".\r" at line start */
	ST_END,		/* CRLF.CRLF seen */
};

/* What one input byte asks the caller to do with output. */
enum data_act {
	ACT_NONE,	/* nothing to emit */
	ACT_BYTE,	/* emit the byte itself */
	ACT_CRLF,	/* emit CR LF (the CR was held back) */
	ACT_END,
};

static void
data_fail(struct smtp_data *d, enum smtp_data_err err)
{
	if (d->err == SMTP_DATA_OK) {
		d->err = err;
		d->err_line = d->line_no;
	}
}

void
smtp_data_init(struct smtp_data *d, size_t max_size)
{
	d->state = ST_LINE_START;
	d->line_len = 0;
	d->total = 0;
	d->max_size = max_size;
	d->line_no = 1;
	d->err = SMTP_DATA_OK;
	d->err_line = 0;
}

/* A content byte of the current line.  RFC 5321 4.5.3.1.6: "The maximum
 * total length of a text line including the <CRLF> is 1000 octets (not
 * counting the leading dot duplicated for transparency)." */
static enum data_act
data_content(struct smtp_data *d, uint8_t c)
{
	if (c == '\r') {
		d->state = ST_CR;
		return ACT_NONE;
	}
	if (c == '\n') {
		data_fail(d, SMTP_DATA_BARE_LF);
		d->state = ST_IN_LINE;
		return ACT_NONE;
	}
	d->state = ST_IN_LINE;
	if (++d->line_len > SMTP_DATA_LINE_MAX - 2)
		data_fail(d, SMTP_DATA_LINE_TOO_LONG);
	return ACT_BYTE;
}

static enum data_act
data_state_step(struct smtp_data *d, uint8_t c)
{
	switch ((enum data_state)d->state) {
	case ST_LINE_START:
		if (c == '.') {
			d->state = ST_DOT;
			return ACT_NONE;
		}
		return data_content(d, c);
	case ST_IN_LINE:
		return data_content(d, c);
	case ST_CR:
		if (c == '\n') {
			d->state = ST_LINE_START;
			d->line_len = 0;
			d->line_no++;
			return ACT_CRLF;
		}
		data_fail(d, SMTP_DATA_BARE_CR);
		return data_content(d, c);
	case ST_DOT:
		/* RFC 5321 4.5.2: "If the first character is a period and
		 * there are other characters on the line, the first
		 * character is deleted." */
		if (c == '\r') {
			d->state = ST_DOT_CR;
			return ACT_NONE;
		}
		return data_content(d, c);
	case ST_DOT_CR:
		if (c == '\n') {
			d->state = ST_END;
			return ACT_END;
		}
		/* ".\r" then anything else: a bare CR on a stuffed line. */
		data_fail(d, SMTP_DATA_BARE_CR);
		return data_content(d, c);
	case ST_END:
		return ACT_END;
	}
	return ACT_END;
}

/* One input byte: the state change, then the size limit on what it
 * would emit.  Counting here, per byte, rather than when a run is
 * appended makes the outcome independent of how the input was split. */
static enum data_act
data_step(struct smtp_data *d, uint8_t c)
{
	unsigned long line = d->line_no;	/* before a CRLF moves it on */
	enum data_act act = data_state_step(d, c);
	size_t k = act == ACT_BYTE ? 1 : act == ACT_CRLF ? 2 : 0;
	if (k > 0 && d->err == SMTP_DATA_OK) {
		if (d->max_size != 0 && (k > d->max_size || d->total > d->max_size - k)) {
			d->err = SMTP_DATA_TOO_BIG;
			d->err_line = line;
		} else {
			d->total += k;
		}
	}
	return act;
}

/* Appends n bytes of content.  smtp_data_feed() sized its input so that
 * out has room; a refusal is out of memory (or a bug in that sizing),
 * a local error either way and never the client's "too big". */
static void
data_emit(struct smtp_data *d, struct buf *out, const uint8_t *p, size_t n)
{
	if (n > 0 && buf_add(out, p, n) != BUF_OK)
		data_fail(d, SMTP_DATA_LOCAL);
}

/* How many input bytes are sure to fit in out: the room left, less the
 * CR held back from the previous call. */
static size_t
data_fit(const struct smtp_data *d, const struct buf *out)
{
	size_t room = out->max - out->len;
	size_t held = d->state == ST_CR ? 1 : 0;
	return room > held ? room - held : 0;
}

bool
smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t n, size_t *used_r,
	       struct buf *out)
{
	/* Runs of plain content bytes are appended with one buf_add; a run
	 * is flushed before anything else happens, so that the content
	 * kept is exactly the bytes before the first error. */
	if (d->state == ST_END) {
		*used_r = 0;
		return true;
	}
	size_t fit = data_fit(d, out);
	size_t run = 0, run_len = 0, i;
	for (i = 0; i < n; i++) {
		/* Stop where out could overflow; after an error nothing is
		 * appended, so the reader goes on looking for the end. */
		if (i == fit && d->err == SMTP_DATA_OK)
			break;
		bool was_ok = d->err == SMTP_DATA_OK;
		enum data_act act = data_step(d, in[i]);
		if (act == ACT_END) {
			data_emit(d, out, in + run, run_len);
			*used_r = i + 1;
			return true;
		}
		if (!was_ok)
			continue;
		if (act == ACT_BYTE && d->err == SMTP_DATA_OK) {
			if (run_len == 0)
				run = i;
			run_len++;
			continue;
		}
		data_emit(d, out, in + run, run_len);
		run_len = 0;
		if (act == ACT_CRLF && d->err == SMTP_DATA_OK)
			data_emit(d, out, (const uint8_t *)"\r\n", 2);
	}
	data_emit(d, out, in + run, run_len);
	*used_r = i;
	return false;
}

enum smtp_data_err
smtp_data_error(const struct smtp_data *d, unsigned long *line_r)
{
	if (line_r != NULL)
		*line_r = d->err_line;
	return d->err;
}
