/* libFuzzer harness for the exec client's side of a session (src/vm/exec.c,
 * included for its static functions): the input is what the shim sends on
 * the control socket after "exec", written in chunks (sizes from the first
 * byte) into a real socketpair and read by sock_readable, which decodes the
 * frames and handles each (STDOUT/STDERR written out and credited back,
 * WINDOW, ERROR, EXIT). Output goes to /dev/null; stdin comes from
 * /dev/zero under the credit the guest grants. Nothing may crash or leak;
 * the credit never wraps, the guest's error text is printable, an exit
 * status is 0-255.
 *
 *   make fuzz && build/fuzz/fuzz_exec fuzz/corpus/exec
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/vm/exec.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t decbuf[2 * PROTO_MAX_FRAME];
static int null_fd = -1, zero_fd = -1;

static void drain(int fd)
{
	static uint8_t sink[1 << 16];
	while (read(fd, sink, sizeof(sink)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (null_fd < 0) {
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
		if (null_fd < 0 || zero_fd < 0)
			abort();
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	struct vm_exec x = {.input = true, .in_fd = zero_fd, .out_fd = null_fd, .err_fd = null_fd};
	struct session s = {.sock = sv[0],
			    .x = &x,
			    .in_open = true,
			    .in_credit = PROTO_INITIAL_WINDOW,
			    .status = -1};
	strbuf_init(&s.guest_error);
	proto_decoder_init(&s.dec, decbuf, sizeof(decbuf));
	size_t off = 0, chunk = size ? (size_t)data[0] * 31 + 1 : 1;
	while (off < size && !s.exited) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (send(sv[1], data + off, n, MSG_NOSIGNAL) < 0)
			break;
		off += n;
		while (sock_readable(&s) == 0 && !s.exited) {
			int pending = 0;
			if (ioctl(sv[0], FIONREAD, &pending) < 0 || pending <= 0)
				break;
		}
		if (s.in_open && s.in_credit && (data[off - 1] & 1))
			stdin_readable(&s);
		drain(sv[1]);
	}
	for (size_t i = 0; i < s.guest_error.len; i++)
		if (s.guest_error.buf[i] < 0x20 || s.guest_error.buf[i] > 0x7e)
			abort();
	if (s.exited && (s.status < 0 || s.status > 255))
		abort();
	strbuf_release(&s.guest_error);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
