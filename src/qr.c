/*
 * QR codes as SVG. libqrencode computes the module matrix, and this file
 * turns the dark modules into path rectangles, one per horizontal run. For a
 * payment URI the markup is a few kilobytes.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "qr.h"

/* Maximum length of the path command of one run, "M181 180h177v1h-177z", plus margin. */
#define QR_RUN_TEXT_MAX 32

/* Bytes of markup around the path data. */
#define QR_FRAME_TEXT_MAX 320

struct qr_writer {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

static void qr_printf(struct qr_writer *w, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static void qr_printf(struct qr_writer *w, const char *format, ...)
{
	va_list args;
	int n;

	if (w->failed)
		return;
	va_start(args, format);
	n = vsnprintf(w->data + w->len, w->cap - w->len, format, args);
	va_end(args);
	if (n < 0 || (size_t)n >= w->cap - w->len) {
		w->failed = true;
		return;
	}
	w->len += (size_t)n;
}

/* Append one rectangle per run of dark modules in row y. */
static void qr_write_row(struct qr_writer *w, const QRcode *code, int y)
{
	const unsigned char *row = code->data + (size_t)y * (size_t)code->width;
	int x = 0;

	while (x < code->width) {
		int start;

		if ((row[x] & 1) == 0) {
			x++;
			continue;
		}
		start = x;
		while (x < code->width && (row[x] & 1) != 0)
			x++;
		qr_printf(w, "M%d %dh%dv1h-%dz", start + QR_QUIET_ZONE, y + QR_QUIET_ZONE,
		          x - start, x - start);
	}
}

char *qr_svg(const char *text, size_t *len)
{
	QRcode *code = NULL;
	struct qr_writer w = { 0 };
	size_t width, runs_max;
	int side;

	if (text == NULL || text[0] == '\0' || strlen(text) > QR_TEXT_MAX)
		return NULL;
	code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (code == NULL)
		return NULL;

	/* A row of width w has at most (w + 1) / 2 dark runs. */
	width = (size_t)code->width;
	runs_max = width * ((width + 1) / 2);
	w.cap = QR_FRAME_TEXT_MAX + runs_max * QR_RUN_TEXT_MAX;
	w.data = malloc(w.cap);
	if (w.data == NULL)
		goto fail;

	side = code->width + 2 * QR_QUIET_ZONE;
	qr_printf(&w,
	          "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\""
	          " shape-rendering=\"crispEdges\">"
	          "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
	          side, side, side, side);
	for (int y = 0; y < code->width; y++)
		qr_write_row(&w, code, y);
	qr_printf(&w, "\"/></svg>");
	if (w.failed)
		goto fail;

	QRcode_free(code);
	if (len != NULL)
		*len = w.len;
	return w.data;

fail:
	QRcode_free(code);
	free(w.data);
	return NULL;
}
