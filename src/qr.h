/*
 * QR codes of payment URIs as inline SVG, drawn with libqrencode.
 */
#ifndef CITYPAY_QR_H
#define CITYPAY_QR_H

#include <stddef.h>

/* Maximum length of the text qr_svg() encodes, in bytes. Payment URIs are far shorter. */
#define QR_TEXT_MAX 1024

/* Width in modules of the light quiet zone around the symbol, as ISO/IEC 18004 requires. */
#define QR_QUIET_ZONE 4

/*
 * Encode text as a QR code (error correction level M, 8-bit mode) and draw
 * it as one SVG element: a white background and one black <path> with a
 * rectangle per horizontal run of dark modules. The viewBox counts modules,
 * quiet zone included, so the caller sizes the picture with CSS.
 *
 * Returns a NUL-terminated heap string the caller frees, with its length in
 * *len when len is not NULL. Returns NULL when text is NULL, empty or longer
 * than QR_TEXT_MAX, when libqrencode fails, or when memory runs out.
 */
char *qr_svg(const char *text, size_t *len);

#endif
