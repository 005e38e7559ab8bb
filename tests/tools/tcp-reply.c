/* A TCP server for the egress tests: listens on ADDR:PORT (PORT 0: any free
 * one), prints the port on stdout once it listens, and answers every
 * connection with TEXT and a newline, then closes it. Runs until killed.
 *
 *   tcp-reply ADDR PORT TEXT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: tcp-reply ADDR PORT TEXT\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)strtoul(argv[2], NULL, 10))};
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "tcp-reply: '%s' is not an IPv4 address\n", argv[1]);
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t len = sizeof(sa);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) < 0) {
		perror("tcp-reply");
		return 1;
	}
	printf("%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	size_t n = strlen(argv[3]);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (write(c, argv[3], n) == (ssize_t)n)
			(void)!write(c, "\n", 1);
		close(c);
	}
}
