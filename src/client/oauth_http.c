/* oauth_http.c - one form POST to an OAuth endpoint with libcurl, the
 * answer parsed by jansson.  Bounded: 64 KiB of answer, 30 s in all. */
#include "client/oauth.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "util/buf.h"
#include "util/str.h"

#define OAUTH_HTTP_MAX 65536
#define OAUTH_HTTP_TIMEOUT 30L

static size_t
http_collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	/* Over the cap: returning less than given makes curl fail. */
	return buf_add(b, p, size * n) == BUF_OK ? size * n : 0;
}

int
oauth_form_add(char **form, const char *name, const char *value)
{
	char *v = curl_easy_escape(NULL, value, 0);
	char *n = v ? str_printf("%s%s%s=%s", *form ? *form : "", *form ? "&" : "", name, v) : NULL;
	curl_free(v);
	if (n == NULL)
		return -1;
	if (*form != NULL)
		free(*form);
	*form = n;
	return 0;
}

long
oauth_http_post(const char *url, const char *form, json_t **json_r, char **err_r)
{
	struct buf body;
	buf_init(&body, OAUTH_HTTP_MAX);
	long status = -1;
	*json_r = NULL;
	CURL *c = curl_easy_init();
	if (c == NULL) {
		*err_r = str_printf("cannot start libcurl");
		return -1;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	(void)curl_easy_setopt(c, CURLOPT_URL, url);
	(void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	(void)curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(c, CURLOPT_TIMEOUT, OAUTH_HTTP_TIMEOUT);
	(void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_collect);
	(void)curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
	(void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		*err_r = str_printf("%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		*json_r = json_loadb((const char *)(body.p ? body.p : (const uint8_t *)""), body.len,
				     JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(*json_r)) {
			json_decref(*json_r);
			*json_r = NULL;
			*err_r = str_printf("%s: HTTP %ld with an answer that is not a JSON object",
					    url, status);
			status = -1;
		}
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	buf_wipe_free(&body);	/* it held tokens */
	return status;
}

char *
oauth_http_error(const json_t *answer, long status)
{
	const char *e = json_string_value(json_object_get(answer, "error"));
	const char *d = json_string_value(json_object_get(answer, "error_description"));
	/* Microsoft's description starts with the AADSTS code and runs on
	 * for lines (trace ids): the first line says it. */
	size_t dlen = d ? strcspn(d, "\r\n") : 0;
	char *s = str_printf("%.100s%s%.*s (HTTP %ld)", e ? e : "error", d ? ": " : "",
			     (int)(dlen < 400 ? dlen : 400), d ? d : "", status);
	/* The provider's text goes to a terminal: no control characters. */
	for (char *p = s; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}
