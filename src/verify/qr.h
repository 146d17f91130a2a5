/*
 * qr.h - the otpauth:// enrolment URI as a QR code a terminal can show
 * (libqrencode makes the symbol; this file only draws it).
 */
#ifndef TK_QR_H
#define TK_QR_H

#define TK_QR_QUIET 2 /* quiet-zone modules around the symbol */

/*
 * Renders text (byte mode, error correction M) as a QR code with UTF-8
 * half-block characters: each character cell holds two modules, one
 * above the other, so the symbol keeps its square shape. A quiet zone of
 * TK_QR_QUIET modules surrounds it.
 *
 * Colours: light modules (and the quiet zone) are drawn with block
 * characters in the terminal's foreground colour, dark modules are left
 * as spaces in its background colour. On the usual light-text-on-dark
 * terminal the code therefore shows dark-on-light, as phone cameras
 * expect; on a dark-text-on-light terminal it shows inverted, which many
 * scanners still read, but not all.
 *
 * Every line has the same number of characters (the symbol's width plus
 * 2 * TK_QR_QUIET) and ends with '\n'. Returns a malloc'd NUL-terminated
 * string the caller frees, or NULL when text is NULL or empty, too long
 * for a QR code (over 2331 bytes), or memory runs out. The text is not
 * kept; the drawing encodes it (an otpauth URI holds the secret), so the
 * caller should wipe the returned string before freeing it.
 */
char *tk_qr_terminal(const char *text);

#endif
