/* auth_proto.h - the messages between the network process and the auth
 * process of `postern serve` (doc/architecture.md): framing, encoding
 * and an incremental decoder.  Pure: no I/O, no globals, no allocation
 * but the caller's buffers, so that unit tests can feed it split at
 * every byte and a fuzz harness can call auth_proto_dec_feed() as is.
 *
 * A frame:
 *	u32 length of what follows (big-endian), AUTH_PROTO_HEAD..AUTH_PROTO_FRAME_MAX
 *	u8  version (AUTH_PROTO_VERSION)
 *	u8  type (enum auth_msg_type)
 *	u32 request id (big-endian)
 *	fields: u16 length (big-endian) then that many bytes, each
 * Each type has a fixed number of fields (HELLO: up to
 * AUTH_PROTO_FIELDS_MAX) and a maximum length per field; a frame that
 * breaks any rule is malformed, and a malformed frame is a bug of the
 * sender: the receiver logs why_r and drops the connection.
 */
#ifndef POSTERN_IPC_AUTH_PROTO_H
#define POSTERN_IPC_AUTH_PROTO_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* The version changes when the frame layout or the fields of an
 * existing type change.  A new type is an addition under the same
 * version (RCPT_CHECK and RCPT_ANSWER came so, issue 14): a receiver
 * that does not know it finds it malformed.  Both ends come from one
 * binary (the processes are forked, never exec'd apart), so neither
 * case is ever met in a running server: the check catches bugs. */
#define AUTH_PROTO_VERSION 1
/* version, type, id: the part of a frame after the length word that
 * every frame has. */
#define AUTH_PROTO_HEAD 6
/* The largest frame after its length word.  The biggest message is
 * AUTH_START or AUTH_CONT carrying a client response of at most 9216
 * bytes (SASL_MSG_MAX: RFC 4954's 12288-byte AUTH line, base64-decoded)
 * with under 200 bytes of head and other fields: 16 KiB leaves room and
 * keeps the decoder's buffer small. */
#define AUTH_PROTO_FRAME_MAX 16384
/* The most fields a message has: HELLO, one per mechanism (there are
 * six mechanisms; CONFIG_MECH_MAX is 16). */
#define AUTH_PROTO_FIELDS_MAX 16
/* Longest mechanism name (RFC 4422 3.1: 20 characters) with room. */
#define AUTH_PROTO_MECH_MAX 32
/* Longest user name in OK/FAIL: SASL_NAME_MAX with room for the claim
 * of a client before it was checked (longer names are cut by the sender). */
#define AUTH_PROTO_USER_MAX 512
#define AUTH_PROTO_IP_MAX 46	/* INET6_ADDRSTRLEN */
#define AUTH_PROTO_WHY_MAX 128
#define AUTH_PROTO_DATA_MAX 9216	/* SASL_MSG_MAX */
/* A recipient in RCPT_CHECK: SMTP_PATH_MAX (RFC 5321 4.5.3.1.3). */
#define AUTH_PROTO_ADDR_MAX 256

enum auth_msg_type {
	AUTH_MSG_HELLO = 1,	/* auth -> net, id 0: the mechanisms the store can complete */
	AUTH_MSG_START,		/* net -> auth: mech, ip, flags, session id, initial response */
	AUTH_MSG_CONT,		/* net -> auth: the client's decoded response */
	AUTH_MSG_CANCEL,	/* net -> auth: no fields */
	AUTH_MSG_CONTINUE,	/* auth -> net: the decoded challenge */
	AUTH_MSG_OK,		/* auth -> net: the user */
	AUTH_MSG_FAIL,		/* auth -> net: kind, user, delay ms, reason */
	AUTH_MSG_RCPT_CHECK,	/* net -> auth: recipient, client ip, session id */
	AUTH_MSG_RCPT_ANSWER,	/* auth -> net: verdict, reason */
	AUTH_MSG__END
};

/* AUTH_START field 2 (one byte). */
#define AUTH_START_TLS 0x01	/* the session runs over TLS */
#define AUTH_START_IR 0x02	/* field 4 is an initial response (else: none) */

/* AUTH_MSG_FAIL field 0 (one byte). */
enum auth_fail_kind {
	AUTH_FAIL_INVALID = 1,	/* wrong credentials: 535 5.7.8 after the delay */
	AUTH_FAIL_TEMP,		/* store trouble: 454 4.7.0 */
	AUTH_FAIL_SYNTAX,	/* malformed client message: 501 5.5.2 */
	AUTH_FAIL_BUSY,		/* too many checks in flight for this client: 454 4.7.0 */
	AUTH_FAIL_THROTTLED,	/* refused by the throttle, nothing checked: 454 4.7.0 */
	AUTH_FAIL__LAST = AUTH_FAIL_THROTTLED
};

/* AUTH_MSG_RCPT_ANSWER field 0 (one byte): is the local recipient known?
 * The reason (field 1) is static text for the log and the reply. */
enum auth_rcpt_verdict {
	AUTH_RCPT_KNOWN = 1,	/* 250 */
	AUTH_RCPT_UNKNOWN,	/* 550 5.1.1 */
	AUTH_RCPT_TEMP,		/* cannot tell now (LMTP down, busy): 450 4.1.1 / 451 4.3.0 */
	AUTH_RCPT__LAST = AUTH_RCPT_TEMP
};

struct auth_field {
	const uint8_t *p;	/* NULL only when n == 0 */
	size_t n;
};

/* A decoded message: fields point into the decoder's buffer and stay
 * valid until the next auth_proto_dec_feed(). */
struct auth_msg {
	enum auth_msg_type type;
	uint32_t id;
	size_t nfields;
	struct auth_field f[AUTH_PROTO_FIELDS_MAX];
};

/* Appends one frame to out.  Returns 0, or -1 when the message breaks
 * the rules of its type (a bug of the caller) or out is full. */
int auth_proto_encode(struct buf *out, enum auth_msg_type type, uint32_t id,
		      const struct auth_field *f, size_t nfields);

/* Checks and splits one frame body (the bytes after the length word).
 * Returns 0, or -1 with *why_r set to a static reason. */
int auth_proto_parse(const uint8_t *body, size_t n, struct auth_msg *msg_r, const char **why_r);

enum auth_proto_rc {
	AUTH_PROTO_MORE,	/* every byte consumed, no whole frame yet */
	AUTH_PROTO_FRAME,	/* *msg_r holds a frame; call again with the rest */
	AUTH_PROTO_BAD,		/* malformed: *why_r says why; the stream is dead */
};

/* The incremental decoder: the frame being read lives in buf. */
struct auth_proto_dec {
	uint8_t buf[4 + AUTH_PROTO_FRAME_MAX];
	size_t have;		/* bytes of the current frame in buf */
	size_t want;		/* 4 + length once the length word is in, else 4 */
	int dead;		/* after AUTH_PROTO_BAD every call is BAD */
};

void auth_proto_dec_init(struct auth_proto_dec *d);
/* Consumes bytes of in (n of them) up to the end of one frame and sets
 * *used_r to how many.  The previous frame's bytes are wiped first (they
 * may hold a password).  Returns AUTH_PROTO_FRAME with *msg_r filled,
 * AUTH_PROTO_MORE (all n used), or AUTH_PROTO_BAD with *why_r. */
enum auth_proto_rc auth_proto_dec_feed(struct auth_proto_dec *d, const uint8_t *in, size_t n,
				       size_t *used_r, struct auth_msg *msg_r,
				       const char **why_r);
/* Wipes the buffer (OPENSSL_cleanse); the decoder starts afresh. */
void auth_proto_dec_wipe(struct auth_proto_dec *d);

const char *auth_msg_type_name(enum auth_msg_type t);

#endif
