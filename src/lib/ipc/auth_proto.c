/* auth_proto.c - framing of the network <-> auth process messages
 * (auth_proto.h, doc/architecture.md).  The rules of each type live in
 * one table, which both the encoder and the decoder apply, so that the
 * two sides can never disagree about what is well-formed. */
#include "ipc/auth_proto.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/buf.h"

/* Per type: how many fields (min..max) and the longest each may be.
 * HELLO's fields all share lim[0]. */
struct auth_rule {
	const char *name;
	size_t min, max;
	size_t lim[5];
};

static const struct auth_rule auth_rules[AUTH_MSG__END] = {
	[AUTH_MSG_HELLO] = { "HELLO", 0, AUTH_PROTO_FIELDS_MAX, { AUTH_PROTO_MECH_MAX } },
	[AUTH_MSG_START] = { "AUTH_START", 5, 5,
			     { AUTH_PROTO_MECH_MAX, AUTH_PROTO_IP_MAX, 1, 8, AUTH_PROTO_DATA_MAX } },
	[AUTH_MSG_CONT] = { "AUTH_CONT", 1, 1, { AUTH_PROTO_DATA_MAX } },
	[AUTH_MSG_CANCEL] = { "AUTH_CANCEL", 0, 0, { 0 } },
	[AUTH_MSG_CONTINUE] = { "CONTINUE", 1, 1, { AUTH_PROTO_DATA_MAX } },
	[AUTH_MSG_OK] = { "OK", 1, 1, { AUTH_PROTO_USER_MAX } },
	[AUTH_MSG_FAIL] = { "FAIL", 4, 4, { 1, AUTH_PROTO_USER_MAX, 4, AUTH_PROTO_WHY_MAX } },
	[AUTH_MSG_RCPT_CHECK] = { "RCPT_CHECK", 3, 3, { AUTH_PROTO_ADDR_MAX, AUTH_PROTO_IP_MAX, 8 } },
	[AUTH_MSG_RCPT_ANSWER] = { "RCPT_ANSWER", 2, 2, { 1, AUTH_PROTO_WHY_MAX } },
};

/* Fields of fixed size: these must be exactly that long. */
static bool
auth_field_fixed(enum auth_msg_type t, size_t i)
{
	return (t == AUTH_MSG_START && (i == 2 || i == 3)) ||
	       (t == AUTH_MSG_FAIL && (i == 0 || i == 2)) || (t == AUTH_MSG_RCPT_CHECK && i == 2) ||
	       (t == AUTH_MSG_RCPT_ANSWER && i == 0);
}

const char *
auth_msg_type_name(enum auth_msg_type t)
{
	if ((int)t <= 0 || t >= AUTH_MSG__END)
		return "?";
	return auth_rules[t].name;
}

static size_t
auth_field_limit(const struct auth_rule *r, enum auth_msg_type t, size_t i)
{
	return t == AUTH_MSG_HELLO ? r->lim[0] : r->lim[i];
}

/* The one byte of a fixed one-byte field (checked before); 0 if empty. */
static uint8_t
auth_byte(const struct auth_field *f)
{
	return f->n > 0 && f->p != NULL ? f->p[0] : 0;
}

/* Checks the fields of a message of type t; NULL when fine. */
static const char *
auth_check_fields(enum auth_msg_type t, const struct auth_field *f, size_t nfields)
{
	if ((int)t <= 0 || t >= AUTH_MSG__END)
		return "unknown message type";
	const struct auth_rule *r = &auth_rules[t];
	if (nfields < r->min)
		return "too few fields";
	if (nfields > r->max)
		return "too many fields";
	for (size_t i = 0; i < nfields; i++) {
		size_t lim = auth_field_limit(r, t, i);
		if (f[i].n > lim)
			return "field too long";
		if (auth_field_fixed(t, i) && f[i].n != lim)
			return "fixed-size field of the wrong size";
	}
	if (t == AUTH_MSG_FAIL && (auth_byte(&f[0]) < AUTH_FAIL_INVALID || auth_byte(&f[0]) > AUTH_FAIL__LAST))
		return "unknown failure kind";
	if (t == AUTH_MSG_RCPT_ANSWER &&
	    (auth_byte(&f[0]) < AUTH_RCPT_KNOWN || auth_byte(&f[0]) > AUTH_RCPT__LAST))
		return "unknown recipient verdict";
	if (t == AUTH_MSG_RCPT_CHECK && f[0].n == 0)
		return "empty recipient";
	if (t == AUTH_MSG_START && (auth_byte(&f[2]) & ~(AUTH_START_TLS | AUTH_START_IR)) != 0)
		return "unknown flags";
	if (t == AUTH_MSG_START && (auth_byte(&f[2]) & AUTH_START_IR) == 0 && f[4].n != 0)
		return "initial response without its flag";
	return NULL;
}

static void
put_be(uint8_t *p, uint32_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint32_t
get_be(const uint8_t *p, size_t n)
{
	uint32_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int
auth_proto_encode(struct buf *out, enum auth_msg_type type, uint32_t id,
		  const struct auth_field *f, size_t nfields)
{
	if (auth_check_fields(type, f, nfields) != NULL)
		return -1;
	size_t len = AUTH_PROTO_HEAD;
	for (size_t i = 0; i < nfields; i++)
		len += 2 + f[i].n;
	if (len > AUTH_PROTO_FRAME_MAX)
		return -1;
	uint8_t *p;
	if (buf_extend(out, 4 + len, &p) != BUF_OK)
		return -1;
	put_be(p, (uint32_t)len, 4);
	p[4] = AUTH_PROTO_VERSION;
	p[5] = (uint8_t)type;
	put_be(p + 6, id, 4);
	p += 4 + AUTH_PROTO_HEAD;
	for (size_t i = 0; i < nfields; i++) {
		put_be(p, (uint32_t)f[i].n, 2);
		if (f[i].n > 0)
			memcpy(p + 2, f[i].p, f[i].n);
		p += 2 + f[i].n;
	}
	return 0;
}

int
auth_proto_parse(const uint8_t *body, size_t n, struct auth_msg *msg_r, const char **why_r)
{
	memset(msg_r, 0, sizeof *msg_r);
	if (n < AUTH_PROTO_HEAD || n > AUTH_PROTO_FRAME_MAX) {
		*why_r = "bad frame length";
		return -1;
	}
	if (body[0] != AUTH_PROTO_VERSION) {
		*why_r = "unknown protocol version";
		return -1;
	}
	msg_r->type = (enum auth_msg_type)body[1];
	msg_r->id = get_be(body + 2, 4);
	size_t off = AUTH_PROTO_HEAD;
	while (off < n) {
		if (msg_r->nfields == AUTH_PROTO_FIELDS_MAX) {
			*why_r = "too many fields";
			return -1;
		}
		if (n - off < 2) {
			*why_r = "truncated field length";
			return -1;
		}
		size_t flen = get_be(body + off, 2);
		off += 2;
		if (flen > n - off) {
			*why_r = "field runs past the frame";
			return -1;
		}
		msg_r->f[msg_r->nfields++] = (struct auth_field){ flen ? body + off : NULL, flen };
		off += flen;
	}
	*why_r = auth_check_fields(msg_r->type, msg_r->f, msg_r->nfields);
	return *why_r == NULL ? 0 : -1;
}

void
auth_proto_dec_init(struct auth_proto_dec *d)
{
	d->have = 0;
	d->want = 4;
	d->dead = 0;
}

void
auth_proto_dec_wipe(struct auth_proto_dec *d)
{
	OPENSSL_cleanse(d->buf, sizeof d->buf);
	auth_proto_dec_init(d);
}

enum auth_proto_rc
auth_proto_dec_feed(struct auth_proto_dec *d, const uint8_t *in, size_t n, size_t *used_r,
		    struct auth_msg *msg_r, const char **why_r)
{
	*used_r = 0;
	if (d->dead) {
		*why_r = "stream already malformed";
		return AUTH_PROTO_BAD;
	}
	if (d->have == d->want && d->want > 4) {
		/* The last call returned a frame: forget it (secrets). */
		OPENSSL_cleanse(d->buf, d->have);
		d->have = 0;
		d->want = 4;
	}
	for (;;) {
		size_t take = d->want - d->have;
		if (take > n - *used_r)
			take = n - *used_r;
		if (take > 0)
			memcpy(d->buf + d->have, in + *used_r, take);
		d->have += take;
		*used_r += take;
		if (d->have < d->want)
			return AUTH_PROTO_MORE;
		if (d->want == 4) {
			uint32_t len = get_be(d->buf, 4);
			if (len < AUTH_PROTO_HEAD || len > AUTH_PROTO_FRAME_MAX) {
				d->dead = 1;
				*why_r = "bad frame length";
				return AUTH_PROTO_BAD;
			}
			d->want = 4 + (size_t)len;
			continue;
		}
		if (auth_proto_parse(d->buf + 4, d->have - 4, msg_r, why_r) < 0) {
			d->dead = 1;
			return AUTH_PROTO_BAD;
		}
		return AUTH_PROTO_FRAME;
	}
}
