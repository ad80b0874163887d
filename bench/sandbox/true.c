/* The program every start-up benchmark runs: exits 0 at once. Linked statically so the
 * minimal profile (no host files) and bwrap with only this file bound can run it. */
int main(void) { return 0; }
