/* dns_resolver.c - c-ares channel driven by libevent: socket events,
 * the retransmission timer, and the dns_resolver config value. */
#include "deliver/dns_resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "deliver/dns_impl.h"
#include "util/buf.h"
#include "util/str.h"

/* One watched c-ares socket. */
struct dns_sock {
	ares_socket_t fd;
	struct event *ev;
};

struct dns_resolver {
	struct event_base *base;
	ares_channel ch;
	bool ch_live;
	struct event *timer;
	struct dns_sock *socks;
	size_t nsocks;
};

/* ---- the dns_resolver value ---- */

static bool
parse_port(const char *s, unsigned *port_r)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
		return false;
	*port_r = (unsigned)v;
	return true;
}

/* One server "IP", "IP:PORT", "IPV6", "[IPV6]:PORT" into b as
 * "IP:PORT" / "[IPV6]:PORT".  tok is a NUL-terminated copy. */
static int
parse_one(char *tok, struct buf *b)
{
	unsigned char bin[16];
	unsigned port = 53;
	char *host = tok, *colon = strchr(tok, ':');
	bool v6;
	if (tok[0] == '[') {
		char *close = strchr(tok, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return -1;
		*close = '\0';
		host = tok + 1;
		if (close[1] == ':' && !parse_port(close + 2, &port))
			return -1;
		v6 = true;
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		*colon = '\0';		/* exactly one colon: IPv4:PORT */
		if (!parse_port(colon + 1, &port))
			return -1;
		v6 = false;
	} else {
		v6 = colon != NULL;	/* bare IPv6, or bare IPv4 */
	}
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
		return -1;
	if (b->len > 0 && buf_addch(b, ',') != BUF_OK)
		return -1;
	return buf_printf(b, v6 ? "[%s]:%u" : "%s:%u", host, port) == BUF_OK ? 0 : -1;
}

int
dns_resolver_parse(const char *value, char **csv_r, char **err_r)
{
	struct buf out;
	char tok[64];
	const char *p = value;
	buf_init(&out, 4096);
	*csv_r = NULL;
	*err_r = NULL;
	while (*p != '\0') {
		size_t n = strcspn(p, ", \t");
		if (n == 0) {
			p++;
			continue;
		}
		if (n >= sizeof tok) {
			*err_r = str_printf("'%.*s' is too long for IP:PORT", (int)n, p);
			break;
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		if (parse_one(tok, &out) < 0) {
			*err_r = str_printf("'%.*s' is not IP, IP:PORT or [IPV6]:PORT", (int)n, p);
			break;
		}
		p += n;
	}
	if (*err_r == NULL && out.len == 0)
		*err_r = str_printf("no server given (IP:PORT)");
	if (*err_r != NULL || out.p == NULL) {
		buf_free(&out);
		if (*err_r == NULL)
			*err_r = str_printf("out of memory");
		return -1;
	}
	*csv_r = (char *)out.p;
	return 0;
}

/* ---- libevent glue ---- */

ares_channel
dns_resolver_channel(struct dns_resolver *r)
{
	return r->ch;
}

struct event_base *
dns_resolver_base(struct dns_resolver *r)
{
	return r->base;
}

void
dns_resolver_kick(struct dns_resolver *r)
{
	struct timeval tvbuf, *tv = ares_timeout(r->ch, NULL, &tvbuf);
	if (tv != NULL)
		evtimer_add(r->timer, tv);
	else
		evtimer_del(r->timer);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *r = arg;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_resolver_kick(r);
}

static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *r = arg;
	/* May close this very socket: sock_state() then frees our event,
	 * which libevent allows from inside its own callback. */
	ares_process_fd(r->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_resolver_kick(r);
}

/* c-ares tells which of its sockets to watch, and for what. */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	size_t i = 0;
	while (i < r->nsocks && r->socks[i].fd != fd)
		i++;
	if (i < r->nsocks) {
		event_free(r->socks[i].ev);
		r->socks[i] = r->socks[--r->nsocks];
	}
	if (!readable && !writable)
		return;
	struct dns_sock *v = realloc(r->socks, (r->nsocks + 1) * sizeof *v);
	if (v == NULL)
		return;		/* unwatched: the query times out, a temporary failure */
	r->socks = v;
	short what = (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	struct event *ev = event_new(r->base, fd, what, on_sock, r);
	if (ev == NULL || event_add(ev, NULL) < 0) {
		if (ev != NULL)
			event_free(ev);
		return;
	}
	v[r->nsocks++] = (struct dns_sock){ fd, ev };
}

struct dns_resolver *
dns_resolver_new(struct event_base *base, const char *servers_csv, unsigned timeout_ms,
		 unsigned tries, char **err_r)
{
	struct ares_options o;
	char lookups[] = "b";	/* DNS only, never /etc/hosts */
	int rc = ares_library_init(ARES_LIB_INIT_ALL);
	*err_r = NULL;
	if (rc != ARES_SUCCESS) {
		*err_r = str_printf("c-ares: %s", ares_strerror(rc));
		return NULL;
	}
	struct dns_resolver *r = calloc(1, sizeof *r);
	if (r == NULL || (r->timer = evtimer_new(base, on_timer, r)) == NULL) {
		free(r);
		ares_library_cleanup();
		*err_r = str_printf("out of memory");
		return NULL;
	}
	r->base = base;
	memset(&o, 0, sizeof o);
	o.timeout = (int)(timeout_ms ? timeout_ms : DNS_TIMEOUT_MS_DEFAULT);
	o.tries = (int)(tries ? tries : DNS_TRIES_DEFAULT);
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = r;
	o.lookups = lookups;
	o.flags = ARES_FLAG_NOSEARCH;
	rc = ares_init_options(&r->ch, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
			       ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_FLAGS);
	r->ch_live = rc == ARES_SUCCESS;
	if (rc == ARES_SUCCESS && servers_csv != NULL)
		rc = ares_set_servers_ports_csv(r->ch, servers_csv);
	if (rc != ARES_SUCCESS) {
		*err_r = str_printf("c-ares: %s%s%s", ares_strerror(rc),
				    servers_csv ? " for servers " : "", servers_csv ? servers_csv : "");
		dns_resolver_free(&r);
		return NULL;
	}
	return r;
}

void
dns_resolver_free(struct dns_resolver **rp)
{
	struct dns_resolver *r = *rp;
	if (r == NULL)
		return;
	/* Runs every pending callback with ARES_EDESTRUCTION (dns_mx.c
	 * frees its lookups then) and closes the sockets (sock_state()). */
	if (r->ch_live)
		ares_destroy(r->ch);
	for (size_t i = 0; i < r->nsocks; i++)
		event_free(r->socks[i].ev);
	free(r->socks);
	event_free(r->timer);
	free(r);
	ares_library_cleanup();
	*rp = NULL;
}
