/*-------------------------------------------------------------------------
 *
 * email_parse.h
 *	  The pure C e-mail normalizer, shared by the extension and the fuzzer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMAIL_PARSE_H
#define EMAIL_PARSE_H

/* normalize in[0..len) into out (len + 1 bytes); result length, or -1 */
extern int	cc_normalize_email(const char *in, int len, char *out);

#endif							/* EMAIL_PARSE_H */
