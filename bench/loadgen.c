/* loadgen.c - options, event loops, histogram and results of the SMTP load
 * generator (see loadgen.h for the dialogue; bench/run drives it).
 *
 *   loadgen -p PORT [-H 127.0.0.1] [--src 127.0.0.2-127.0.0.250]
 *           [--mode send|login|idle] [--tls none|starttls|implicit]
 *           [--auth none|plain|scram] [-u USER] [-w PASSWORD]
 *           [-c CLIENTS] [-k MSGS_PER_CONN] [-s SIZE] [-d SECONDS] [-n COUNT]
 *           [-j THREADS] [--grace S] [--reply-timeout S] [--ramp N] [--hold S]
 *
 * Prints one JSON line on stdout (machine-readable results) and one human
 * line on stderr.  Exit status: 0 when every reply was the expected one,
 * 1 when there was any error (an unexpected code, a closed connection, a
 * timeout, a session still busy at the hard bound), 2 for usage errors.
 * Idle mode prints "READY established=N errors=E" on stdout once every
 * session is set up (or failed), then holds them for --hold seconds (or,
 * with --hold -1, until stdin closes).
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

atomic_uint_fast64_t lg_started;
atomic_bool lg_hold_over;

uint64_t
lg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- histogram ---- */

static unsigned
hist_index(uint64_t v)
{
	if (v < (uint64_t)2 * LG_HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - 5u;	/* 2^5 = LG_HIST_SUB */
	unsigned i = shift * LG_HIST_SUB + (unsigned)(v >> shift);
	return i < LG_HIST_N ? i : LG_HIST_N - 1;
}

static uint64_t
hist_upper(unsigned i)
{
	if (i < 2 * LG_HIST_SUB)
		return i;
	unsigned shift = i / LG_HIST_SUB - 1;
	uint64_t top = i - shift * LG_HIST_SUB;
	return ((top + 1) << shift) - 1;
}

void
lg_hist_add(struct lg_hist *h, uint64_t us)
{
	h->n[hist_index(us)]++;
	h->count++;
	if (us > h->max_us)
		h->max_us = us;
}

void
lg_hist_merge(struct lg_hist *into, const struct lg_hist *h)
{
	for (unsigned i = 0; i < LG_HIST_N; i++)
		into->n[i] += h->n[i];
	into->count += h->count;
	if (h->max_us > into->max_us)
		into->max_us = h->max_us;
}

double
lg_hist_ms(const struct lg_hist *h, double q)
{
	if (h->count == 0)
		return 0.0;
	uint64_t want = (uint64_t)(q * (double)h->count + 0.5), seen = 0;
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < LG_HIST_N; i++) {
		seen += h->n[i];
		if (seen >= want) {
			uint64_t up = hist_upper(i);
			return (double)(up < h->max_us ? up : h->max_us) / 1000.0;
		}
	}
	return (double)h->max_us / 1000.0;
}

/* ---- the loop ---- */

static void
loop_sweep(struct lg_loop *l, uint64_t now)
{
	for (unsigned i = 0; i < l->n; i++)
		lg_sess_check_timeout(&l->sess[i], now);
}

/* Idle mode: starts set-ups while fewer than --ramp are in flight. */
static void
loop_ramp(struct lg_loop *l)
{
	while (l->next_idle < l->n && l->connecting < l->o->ramp) {
		l->connecting++;
		lg_sess_start(&l->sess[l->next_idle++]);
	}
}

static bool
loop_done(struct lg_loop *l, uint64_t now)
{
	if (now >= l->hard_at)
		return true;
	if (l->o->mode == LG_IDLE)
		return atomic_load(&lg_hold_over) || l->open == 0;
	return l->open == 0;
}

/* Counts what is still busy at the hard bound as errors: a server that
 * has not answered by then has not done the work. */
static void
loop_finish(struct lg_loop *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct lg_sess *s = &l->sess[i];
		if (s->fd >= 0 && s->step != ST_IDLE && s->step != ST_CLOSED)
			lg_sess_fail(s, "still waiting at the hard time bound");
		s->retry = false;
		lg_io_close(s);
	}
}

static void *
loop_run(void *arg)
{
	struct lg_loop *l = arg;
	struct epoll_event evs[256];
	bool ready_said = false;
	if (l->o->mode == LG_IDLE)
		loop_ramp(l);
	else
		for (unsigned i = 0; i < l->n; i++)
			lg_sess_start(&l->sess[i]);
	uint64_t last_sweep = lg_now_ns();
	for (;;) {
		int n = epoll_wait(l->ep, evs, (int)(sizeof evs / sizeof *evs), 100);
		for (int i = 0; i < n; i++)
			lg_sess_event(evs[i].data.ptr, evs[i].events);
		uint64_t now = lg_now_ns();
		if (now - last_sweep > 100000000u) {
			loop_sweep(l, now);
			last_sweep = now;
		}
		if (l->o->mode == LG_IDLE) {
			loop_ramp(l);
			if (!ready_said && l->next_idle == l->n && l->connecting == 0) {
				ready_said = true;
				printf("READY established=%llu errors=%llu\n",
				       (unsigned long long)l->st.established,
				       (unsigned long long)l->st.errors);
				(void)fflush(stdout);
				l->hard_at = l->o->hold < 0 ? UINT64_MAX
					: now + (uint64_t)(l->o->hold * 1e9);
			}
		}
		if (loop_done(l, now))
			break;
	}
	loop_finish(l);
	return NULL;
}

/* ---- options ---- */

static int
parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

static int
parse_src(struct lg_opts *o, const char *arg)
{
	char first[32];
	const char *dash = strchr(arg, '-');
	size_t n = dash ? (size_t)(dash - arg) : strlen(arg);
	uint32_t last;
	if (n >= sizeof first)
		return -1;
	memcpy(first, arg, n);
	first[n] = '\0';
	if (parse_ipv4(first, &o->src_first) != 0)
		return -1;
	if (dash == NULL)
		last = o->src_first;
	else if (parse_ipv4(dash + 1, &last) != 0 || last < o->src_first)
		return -1;
	o->src_count = last - o->src_first + 1;
	return 0;
}

static int
pick(const char *arg, const char *const *names, int count)
{
	for (int i = 0; i < count; i++)
		if (strcmp(arg, names[i]) == 0)
			return i;
	return -1;
}

static double
num(const char *arg, double lo, double hi, bool *bad)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || v < lo || v > hi)
		*bad = true;
	return v;
}

static void
usage(void)
{
	(void)fputs("usage: loadgen -p PORT [-H ADDR] [--src A-B] [--mode send|login|idle]\n"
	      "  [--tls none|starttls|implicit] [--auth none|plain|scram] [-u USER] [-w PASS]\n"
	      "  [-c CLIENTS] [-k PER_CONN] [-s SIZE] [-d SECONDS] [-n COUNT] [-j THREADS]\n"
	      "  [--grace S] [--reply-timeout S] [--ramp N] [--hold S] [--from A] [--rcpt A]\n",
	      stderr);
	exit(2);
}

static const struct option longopts[] = {
	{ "host", 1, NULL, 'H' }, { "port", 1, NULL, 'p' }, { "src", 1, NULL, 'S' },
	{ "mode", 1, NULL, 'M' }, { "tls", 1, NULL, 'T' }, { "auth", 1, NULL, 'A' },
	{ "user", 1, NULL, 'u' }, { "password", 1, NULL, 'w' }, { "clients", 1, NULL, 'c' },
	{ "per-conn", 1, NULL, 'k' }, { "size", 1, NULL, 's' }, { "seconds", 1, NULL, 'd' },
	{ "count", 1, NULL, 'n' }, { "threads", 1, NULL, 'j' }, { "grace", 1, NULL, 'g' },
	{ "reply-timeout", 1, NULL, 't' }, { "ramp", 1, NULL, 'r' }, { "hold", 1, NULL, 'h' },
	{ "from", 1, NULL, 'f' }, { "rcpt", 1, NULL, 'R' }, { NULL, 0, NULL, 0 },
};

static void
parse_opts(struct lg_opts *o, int argc, char **argv)
{
	static const char *const modes[] = { "send", "login", "idle" };
	static const char *const tlss[] = { "none", "starttls", "implicit" };
	static const char *const auths[] = { "none", "plain", "scram" };
	uint32_t host = 0x7f000001u;
	double port = 0;
	bool bad = false;
	int c, v;
	*o = (struct lg_opts){ .clients = 1, .threads = 1, .per_conn = 1, .size = 2048,
		.seconds = 10, .grace = 10, .reply_timeout = 30, .ramp = 64, .hold = -1,
		.user = "bench@example.test", .password = "bench password 42",
		.from = "bench@example.test", .rcpt = "rcpt@example.net" };
	while ((c = getopt_long(argc, argv, "H:p:u:w:c:k:s:d:n:j:", longopts, NULL)) != -1) {
		switch (c) {
		case 'H': bad |= parse_ipv4(optarg, &host) != 0; break;
		case 'p': port = num(optarg, 1, 65535, &bad); break;
		case 'S': bad |= parse_src(o, optarg) != 0; break;
		case 'M': bad |= (v = pick(optarg, modes, 3)) < 0; o->mode = (enum lg_mode)v; break;
		case 'T': bad |= (v = pick(optarg, tlss, 3)) < 0; o->tls = (enum lg_tls)v; break;
		case 'A': bad |= (v = pick(optarg, auths, 3)) < 0; o->auth = (enum lg_auth)v; break;
		case 'u': o->user = optarg; break;
		case 'w': o->password = optarg; break;
		case 'c': o->clients = (unsigned)num(optarg, 1, 1e6, &bad); break;
		case 'k': o->per_conn = (unsigned)num(optarg, 1, 1e9, &bad); break;
		case 's': o->size = (size_t)num(optarg, 0, 1e8, &bad); break;
		case 'd': o->seconds = num(optarg, 0, 86400, &bad); break;
		case 'n': o->count = (uint64_t)num(optarg, 0, 1e15, &bad); break;
		case 'j': o->threads = (unsigned)num(optarg, 1, 64, &bad); break;
		case 'g': o->grace = num(optarg, 0, 3600, &bad); break;
		case 't': o->reply_timeout = num(optarg, 0.01, 3600, &bad); break;
		case 'r': o->ramp = (unsigned)num(optarg, 1, 1e6, &bad); break;
		case 'h': o->hold = num(optarg, -1, 86400, &bad); break;
		case 'f': o->from = optarg; break;
		case 'R': o->rcpt = optarg; break;
		default: usage();
		}
	}
	if (bad || port == 0 || optind != argc)
		usage();
	if (o->mode == LG_IDLE)
		o->threads = 1;	/* one READY line, one hold */
	if (o->threads > o->clients)
		o->threads = o->clients;
	o->dst.sin_family = AF_INET;
	o->dst.sin_port = htons((uint16_t)port);
	o->dst.sin_addr.s_addr = htonl(host);
}

/* The DATA payload: headers, then 76-character body lines up to size
 * bytes, then the final dot.  No line starts with a dot. */
static void
build_message(struct lg_opts *o)
{
	size_t cap = o->size + 1024, len;
	char *m = malloc(cap);
	if (m == NULL) {
		perror("loadgen: malloc");
		exit(2);
	}
	int n = snprintf(m, cap, "From: <%s>\r\nTo: <%s>\r\nSubject: loadgen message\r\n"
			 "Message-ID: <loadgen@bench.test>\r\n\r\n", o->from, o->rcpt);
	len = n > 0 ? (size_t)n : 0;
	while (len + 80 < o->size) {
		memset(m + len, 'x', 76);
		m[len + 76] = '\r';
		m[len + 77] = '\n';
		len += 78;
	}
	n = snprintf(m + len, cap - len, "end\r\n.\r\n");
	o->message = m;
	o->message_len = len + (n > 0 ? (size_t)n : 0);
}

static SSL_CTX *
client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		(void)fputs("loadgen: SSL_CTX_new failed\n", stderr);
		exit(2);
	}
	/* a benchmark of the server: no certificate check, no resumption
	 * (every connection pays a full handshake, as a new client does) */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

/* ---- results ---- */

static void
print_hist(const char *name, const struct lg_hist *h)
{
	printf(",\"%s\":{\"n\":%llu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}", name,
	       (unsigned long long)h->count, lg_hist_ms(h, 0.5), lg_hist_ms(h, 0.9),
	       lg_hist_ms(h, 0.99), (double)h->max_us / 1000.0);
}

static void
report(const struct lg_opts *o, const struct lg_stats *st, double secs)
{
	static const char *const modes[] = { "send", "login", "idle" };
	static const char *const tlss[] = { "none", "starttls", "implicit" };
	static const char *const auths[] = { "none", "plain", "scram" };
	double rate = secs > 0 ? (double)st->messages / secs : 0;
	double lrate = secs > 0 ? (double)st->logins / secs : 0;
	printf("{\"mode\":\"%s\",\"tls\":\"%s\",\"auth\":\"%s\",\"clients\":%u,\"threads\":%u,"
	       "\"per_conn\":%u,\"size\":%zu,\"seconds\":%.3f,\"messages\":%llu,\"sessions\":%llu,"
	       "\"logins\":%llu,\"established\":%llu,\"errors\":%llu,\"rate\":%.1f,"
	       "\"login_rate\":%.1f",
	       modes[o->mode], tlss[o->tls], auths[o->auth], o->clients, o->threads, o->per_conn,
	       o->size, secs, (unsigned long long)st->messages, (unsigned long long)st->sessions,
	       (unsigned long long)st->logins, (unsigned long long)st->established,
	       (unsigned long long)st->errors, rate, lrate);
	print_hist("msg_ms", &st->msg);
	print_hist("login_ms", &st->login);
	printf(",\"errors_at\":{");
	const char *sep = "";
	for (int i = 0; i < ST__COUNT; i++)
		if (st->errors_at[i]) {
			printf("%s\"%s\":%llu", sep, lg_step_name[i],
			       (unsigned long long)st->errors_at[i]);
			sep = ",";
		}
	printf("},\"first_error\":\"%s\"}\n", st->first_error);
	const struct lg_hist *h = o->mode == LG_SEND ? &st->msg : &st->login;
	(void)fprintf(stderr, "loadgen: %llu messages, %llu logins, %llu sessions in %.1f s = %.1f/s,"
		" %llu errors; latency ms p50 %.2f p90 %.2f p99 %.2f%s%s\n",
		(unsigned long long)st->messages, (unsigned long long)st->logins,
		(unsigned long long)st->sessions, secs, o->mode == LG_SEND ? rate : lrate,
		(unsigned long long)st->errors, lg_hist_ms(h, 0.5), lg_hist_ms(h, 0.9),
		lg_hist_ms(h, 0.99), st->first_error[0] ? "; first error: " : "",
		st->first_error);
}

static void
merge_stats(struct lg_stats *into, const struct lg_stats *s)
{
	into->messages += s->messages;
	into->sessions += s->sessions;
	into->logins += s->logins;
	into->established += s->established;
	into->errors += s->errors;
	for (int i = 0; i < ST__COUNT; i++)
		into->errors_at[i] += s->errors_at[i];
	lg_hist_merge(&into->msg, &s->msg);
	lg_hist_merge(&into->login, &s->login);
	if (into->first_error[0] == '\0')
		memcpy(into->first_error, s->first_error, sizeof into->first_error);
}

/* Idle mode with --hold -1: waits for stdin to close, then ends the hold. */
static void *
stdin_watch(void *arg)
{
	char b[256];
	(void)arg;
	while (read(0, b, sizeof b) > 0)
		;
	atomic_store(&lg_hold_over, true);
	return NULL;
}

static void
raise_nofile(unsigned want)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < want) {
		r.rlim_cur = want < r.rlim_max ? want : r.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &r);
	}
}

static void
run_loops(const struct lg_opts *o, struct lg_loop *loops, struct lg_sess *sess)
{
	uint64_t t0 = lg_now_ns();
	pthread_t tid[64];
	for (unsigned t = 0; t < o->threads; t++) {
		struct lg_loop *l = &loops[t];
		l->o = o;
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		l->first = o->clients * t / o->threads;
		l->n = o->clients * (t + 1) / o->threads - l->first;
		l->sess = sess + l->first;
		l->open = l->n;
		l->t0 = t0;
		l->stop_at = o->mode == LG_IDLE ? UINT64_MAX : t0 + (uint64_t)(o->seconds * 1e9);
		/* idle mode: -d bounds the set-up, --hold the hold after it */
		l->hard_at = (o->mode == LG_IDLE ? t0 + (uint64_t)(o->seconds * 1e9) : l->stop_at) +
			(uint64_t)(o->grace * 1e9);
		for (unsigned i = 0; i < l->n; i++)
			l->sess[i] = (struct lg_sess){ .loop = l, .fd = -1, .index = l->first + i };
		if (l->ep < 0 || pthread_create(&tid[t], NULL, loop_run, l) != 0) {
			perror("loadgen: thread");
			exit(2);
		}
	}
	for (unsigned t = 0; t < o->threads; t++)
		pthread_join(tid[t], NULL);
}

int
main(int argc, char **argv)
{
	static struct lg_opts o;
	parse_opts(&o, argc, argv);
	build_message(&o);
	o.ssl_ctx = client_ctx();
	(void)signal(SIGPIPE, SIG_IGN);
	raise_nofile(o.clients + 64);
	struct lg_loop *loops = calloc(o.threads, sizeof *loops);
	struct lg_sess *sess = calloc(o.clients, sizeof *sess);
	struct lg_stats *total = calloc(1, sizeof *total);
	pthread_t watcher;
	if (loops == NULL || sess == NULL || total == NULL) {
		perror("loadgen: calloc");
		return 2;
	}
	if (o.mode == LG_IDLE && o.hold < 0 &&
	    pthread_create(&watcher, NULL, stdin_watch, NULL) == 0)
		pthread_detach(watcher);
	uint64_t t0 = lg_now_ns();
	run_loops(&o, loops, sess);
	double secs = (double)(lg_now_ns() - t0) / 1e9;
	for (unsigned t = 0; t < o.threads; t++) {
		merge_stats(total, &loops[t].st);
		close(loops[t].ep);
	}
	report(&o, total, secs);
	int rc = total->errors ? 1 : 0;
	free(total);
	free(sess);
	free(loops);
	free(o.message);
	SSL_CTX_free(o.ssl_ctx);
	return rc;
}
