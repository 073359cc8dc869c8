/* libgreet.so.1: a shared library of the test's own, so that an executable needs a library
 * that no base image has (the refusal test). */
const char *greeting(void) { return "hello from libgreet"; }
