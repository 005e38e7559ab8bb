#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

static int epfd = -1;
static struct watch timer_watch = {.fd = -1};
static uint64_t timer_at; /* 0: disarmed */

uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t now_ms(void)
{
	return now_us() / 1000;
}

static void arm(uint64_t at)
{
	struct itimerspec its;
	memset(&its, 0, sizeof(its));
	if (at) {
		its.it_value.tv_sec = (time_t)(at / 1000);
		its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(timer_watch.fd, TFD_TIMER_ABSTIME, &its, NULL);
	timer_at = at;
}

void timer_want(uint64_t at_ms)
{
	if (!timer_at || at_ms < timer_at)
		arm(at_ms);
}

static void on_timer(struct watch *w, uint32_t events)
{
	(void)events;
	uint64_t n;
	while (read(w->fd, &n, sizeof(n)) > 0)
		;
	timer_at = 0;
	/* Everyone who wants a later deadline asks again. */
	services_timer();
	agent_timer();
}

int loop_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	timer_watch.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (timer_watch.fd < 0)
		return -errno;
	timer_watch.fn = on_timer;
	return loop_add(&timer_watch, EPOLLIN);
}

int loop_add(struct watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	return epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

int loop_mod(struct watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	return epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void loop_del(struct watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

void loop_run_once(void)
{
	struct epoll_event evs[32];
	int n = epoll_wait(epfd, evs, 32, -1);
	if (n < 0) {
		if (errno == EINTR)
			return;
		fatal("epoll_wait: %s", strerror(errno));
	}
	for (int i = 0; i < n; i++) {
		struct watch *w = evs[i].data.ptr;
		if (w && w->fn)
			w->fn(w, evs[i].events);
	}
}
