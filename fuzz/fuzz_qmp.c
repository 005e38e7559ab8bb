/* libFuzzer harness for the QMP reply decoder and the framing around it:
 * the input is decoded as one message, then fed as a stream (split at its
 * first byte's value) with replies collected and events queued. Nothing may
 * crash, leak, or keep more than the caps allow. */
#include <stddef.h>
#include <stdint.h>

#include "vmm/qmp.h"

static void on_reply(struct qmp_msg *m, void *arg)
{
	size_t *n = arg;
	(void)m;
	(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qmp_msg m;
	struct err e = ERR_INIT;
	if (qmp_decode((const char *)data, size, &m, &e) == 0)
		qmp_msg_release(&m);
	err_release(&e);

	struct qmp q;
	qmp_init(&q, -1);
	size_t replies = 0;
	size_t cut = size ? data[0] % (size + 1) : 0;
	qmp_feed(&q, data, cut, on_reply, &replies, &e);
	err_release(&e);
	qmp_feed(&q, data + cut, size - cut, on_reply, &replies, &e);
	err_release(&e);
	if (q.ev_len > QMP_MAX_EVENTS || q.in.len > QMP_MAX_MSG)
		__builtin_trap();
	qmp_release(&q);
	return 0;
}
