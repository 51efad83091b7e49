/* curl.h - outbound transfers: libcurl's multi-socket API driven by the
 * worker's loop.
 *
 * One multi handle per worker holds every transfer under way and the
 * connections kept between them (reused by the worker's later transfers
 * to the same host). curl says which sockets to watch for what and when it
 * wants its timer; the loop watches them (an aio_conn each, the fd being
 * curl's) and tells curl what became ready. The task whose transfer it is
 * stays parked until curl reports it done. */
#ifndef AIO_ENGINE_CURL_H
#define AIO_ENGINE_CURL_H

#include <curl/curl.h>

#include "engine/engine.h"

/* Runs the transfer `easy` (set up by the caller, who keeps it; its
 * CURLOPT_PRIVATE is this file's), parking `task` until it ends or
 * timeout_ms (< 0: none) passes. AIO_OK (*result: curl's code for the
 * transfer), AIO_ETIMEDOUT, AIO_ECANCELLED (then the transfer was stopped
 * and its connection closed), AIO_ENOMEM, AIO_ERROR (curl refused it). */
int aio__curl_run(struct aio_task *task, CURL *easy, int timeout_ms, CURLcode *result);
/* Transfers under way now. */
int aio__curl_running(void);
/* At the worker's end (no transfer may be under way): frees the multi
 * handle, closing the connections it kept. */
void aio__curl_close(void);

#endif
