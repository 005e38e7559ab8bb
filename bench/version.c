/* The floor for `mvmctl --version`: a bare C program printing the same line
 * (process start-up, libc's dynamic linking, one write, exit). ls.sh also
 * links an empty main against mvmctl's own libraries, to show what loading
 * them costs on its own. */
#include <stdio.h>

int main(void)
{
	printf("mvmctl 0.1.0\n");
	return 0;
}
