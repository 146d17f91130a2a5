/*
 * qr.c - draws a libqrencode symbol with UTF-8 half blocks for a
 * terminal (see qr.h for the colours and the quiet zone).
 *
 * Owns: only the returned string; libqrencode's symbol is freed (its
 * module bytes wiped first, since they encode the text) before return.
 */
#include "verify/qr.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <qrencode.h>

/* UTF-8 for the four cells: both light, top light, bottom light. */
#define FULL "\xe2\x96\x88"  /* U+2588 FULL BLOCK */
#define UPPER "\xe2\x96\x80" /* U+2580 UPPER HALF BLOCK */
#define LOWER "\xe2\x96\x84" /* U+2584 LOWER HALF BLOCK */

/* Whether module (x, y) of the bordered picture is light. Outside the
 * symbol (the quiet zone) is light; below the last row (when the height
 * is odd, the lower half of the last line) is blank, i.e. dark. */
static int
light(const QRcode *q, int x, int y, int full)
{
	int sx = x - TK_QR_QUIET, sy = y - TK_QR_QUIET;

	if (y >= full)
		return 0;
	if (sx < 0 || sy < 0 || sx >= q->width || sy >= q->width)
		return 1;
	return (q->data[(size_t)sy * (size_t)q->width + (size_t)sx] & 1) == 0;
}

char *
tk_qr_terminal(const char *text)
{
	QRcode *q;
	char *out, *p;
	int full, x, y, top, bot;
	size_t lines, cap;

	if (text == NULL || text[0] == '\0')
		return NULL;
	/* NULL with errno ERANGE when the text does not fit any version */
	q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (q == NULL)
		return NULL;
	full = q->width + 2 * TK_QR_QUIET;
	lines = ((size_t)full + 1) / 2;
	/* at most 3 bytes per cell, a newline per line, the NUL */
	cap = lines * ((size_t)full * 3 + 1) + 1;
	if ((out = malloc(cap)) == NULL) {
		OPENSSL_cleanse(q->data, (size_t)q->width * (size_t)q->width);
		QRcode_free(q);
		return NULL;
	}
	p = out;
	for (y = 0; y < full; y += 2) {
		for (x = 0; x < full; x++) {
			top = light(q, x, y, full);
			bot = light(q, x, y + 1, full);
			if (top && bot) {
				memcpy(p, FULL, 3);
				p += 3;
			} else if (top) {
				memcpy(p, UPPER, 3);
				p += 3;
			} else if (bot) {
				memcpy(p, LOWER, 3);
				p += 3;
			} else
				*p++ = ' ';
		}
		*p++ = '\n';
	}
	*p = '\0';
	OPENSSL_cleanse(q->data, (size_t)q->width * (size_t)q->width);
	QRcode_free(q);
	return out;
}
