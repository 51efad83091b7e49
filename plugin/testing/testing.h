/* testing.h - what the files of the test host share (testing/).
 *
 * libaio_testing (<uwsgi-aio/aio_testing.h>) hosts the engine and the
 * framework in a test process instead of uWSGI. The test's thread is the
 * loop thread. A dummy request gets a task of its own (a coroutine with its
 * own stack); running it resumes the coroutine until it first suspends, and
 * the helpers that wait turn the libuv loop until it has ended, exactly as
 * a worker's loop would, so sleeps, fd waits, executor jobs, spawned tasks,
 * tweens and suspending callbacks all run for real.
 *
 *   app.c      the application: options, modules, start, the captured log
 *   request.c  dummy requests, running them, their responses
 *   wspair.c   websocket test pairs: a socketpair where the client would be,
 *              its client end driven by the same endpoint as the server's */
#ifndef AIO_TESTING_TESTING_H
#define AIO_TESTING_TESTING_H

#include <uwsgi-aio/aio_testing.h>

#include "app/app.h"
#include "base/buf.h"
#include "engine/wsconn.h"

enum run_mode { RUN_VIEW, RUN_FN, RUN_SERVE };

/* A dummy request and the coroutine that runs it. */
struct test_run {
    struct aio_task task; /* task.req is the request */
    struct aio_list node; /* in aio_testing.runs */
    enum run_mode mode;
    const struct aio_view *view; /* RUN_VIEW */
    aio_view_fn fn;              /* RUN_FN */
    int result;
    int started;
    int done;
    struct aio_testing_ws *pair; /* a websocket pair's handshake: the pair frees it */
};

struct aio_testing {
    struct aio_list runs;    /* every request not freed yet */
    struct aio_list sockets; /* websocket pairs not freed yet */
    int started;
    int timeout_ms;
    int verbose;
    struct aio_buf log;
    char error[512];
    uv_timer_t deadline;
    int expired;
};

struct aio_testing_ws {
    struct aio_list node;     /* in aio_testing.sockets */
    aio_testing *t;
    struct test_run *run;     /* the handshake request, served for the session */
    struct aio_conn conn;     /* the server's end */
    struct aio_conn peer;     /* the client's end ... */
    struct aio_wsconn client; /* ... and the endpoint on it, as the server's */
    struct aio_list inbox;    /* the messages the client received */
    int upgraded;             /* the client endpoint is open */
};

/* ---- app.c ------------------------------------------------------------------ */

/* The one application of this process (the engine is one), or NULL. */
extern aio_testing *aio__testing_current;
/* Records why a helper failed (aio_testing_error()); returns `status`. */
int aio__testing_fail(aio_testing *t, int status, const char *fmt, ...) AIO_PRINTF(3, 4);
/* Turns the loop until done(arg) or timeout_ms pass: AIO_OK or AIO_ETIMEDOUT. */
int aio__testing_turn_until(aio_testing *t, int (*done)(const void *), const void *arg,
                            int timeout_ms);

/* ---- request.c ---------------------------------------------------------------- */

#define run_of(req) aio__container_of((req)->task, struct test_run, task)

/* 1 once the run's coroutine has ended (for aio__testing_turn_until). */
int aio__testing_run_done(const void *arg);
/* Runs the request's coroutine until it first suspends (or ends). */
int aio__testing_run_start(aio_testing *t, struct test_run *run, enum run_mode mode);
/* Cancels the run if it still runs, waits for its end, frees it. */
void aio__testing_run_free(aio_testing *t, struct test_run *run);

/* ---- wspair.c ------------------------------------------------------------------ */

/* Drops the connection if open, waits for the session to end, frees. */
void aio__testing_ws_free(aio_testing_ws *ws);

#endif
