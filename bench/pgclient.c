/* pgclient - what the database can do, for the techempower benchmark.
 *
 *   pgclient CONNINFO MODE CONNECTIONS SECONDS [QUERIES]
 *
 * Runs TechEmpower's database tests straight against PostgreSQL, without
 * HTTP or a server in between: the limit a server in front of the same
 * database is measured against. CONNECTIONS libpq connections, each with
 * one request in flight, all driven by this one thread through poll(2) and
 * libpq's asynchronous API, as one uwsgi-aio worker is one thread. Every
 * query is `SELECT id, randomNumber FROM World WHERE id = $1`, a prepared
 * statement, with a random id from 1 to 10000. A request is, by MODE:
 *   db                  one query;
 *   queries             QUERIES queries (default 20) sent in one pipeline:
 *                       libpq's pipeline mode, QUERIES x PQsendQueryPrepared
 *                       and one PQpipelineSync, then all the results;
 *   queries-sequential  QUERIES queries one after the other, each sent once
 *                       the previous one's result came (for comparison).
 * Every result is checked: PGRES_TUPLES_OK, one row, the id asked for.
 * The clock starts once every connection is up and has prepared the
 * statement, and stops after SECONDS; the requests then in flight are
 * finished and checked but not counted. Prints one line:
 *   requests=N seconds=S rate=R        (R in requests/s)
 * Exits 1 on any failed connection, query or check; 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define WORLD_ROWS 10000
#define MAX_QUERIES 500 /* TechEmpower's bound on ?queries= */
#define MAX_CONNECTIONS 1000
#define STATEMENT "world"
#define QUERY "SELECT id, randomNumber FROM World WHERE id = $1"
#define DRAIN_SECONDS 10.0 /* for the requests in flight at the end */

enum mode { DB, PIPELINED, SEQUENTIAL };

struct conn {
    PGconn *pg;
    int busy;       /* a request is in flight */
    int want_write; /* libpq has output it could not send yet */
    int sent;       /* queries of the current request sent ... */
    int answered;   /* ... and their results checked */
    int last_null;  /* pipelined: the previous PQgetResult gave NULL */
    int ids[MAX_QUERIES];
};

static enum mode mode;
static int queries_per_request = 1;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Any failure ends the run: a figure with failed queries in it means
 * nothing. */
static void fail(const char *what, PGconn *pg)
{
    fprintf(stderr, "pgclient: %s%s%s", what, pg ? ": " : "\n", pg ? PQerrorMessage(pg) : "");
    exit(1);
}

/* xorshift64: cheap, and the same ids from run to run. */
static int random_id(void)
{
    static unsigned long long state = 88172645463325252ULL;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return 1 + (int)(state % WORLD_ROWS);
}

static void send_query(struct conn *c)
{
    char param[16];
    int id = random_id();
    snprintf(param, sizeof(param), "%d", id);
    const char *values[1] = {param};
    /* libpq copies the parameter into its output buffer here */
    if (!PQsendQueryPrepared(c->pg, STATEMENT, 1, values, NULL, NULL, 0))
        fail("PQsendQueryPrepared", c->pg);
    c->ids[c->sent++] = id;
}

static void flush(struct conn *c)
{
    int rc = PQflush(c->pg);
    if (rc < 0)
        fail("PQflush", c->pg);
    c->want_write = rc == 1;
}

static void start_request(struct conn *c)
{
    c->busy = 1;
    c->sent = c->answered = c->last_null = 0;
    if (mode == PIPELINED) {
        for (int i = 0; i < queries_per_request; i++)
            send_query(c);
        if (!PQpipelineSync(c->pg))
            fail("PQpipelineSync", c->pg);
    } else {
        send_query(c);
    }
    flush(c);
}

static void check_row(struct conn *c, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "pgclient: %s: %s", PQresStatus(PQresultStatus(res)),
                PQresultErrorMessage(res));
        exit(1);
    }
    if (c->answered >= c->sent)
        fail("a result for a query never sent", NULL);
    if (PQntuples(res) != 1 || PQnfields(res) != 2 ||
        atoi(PQgetvalue(res, 0, 0)) != c->ids[c->answered]) {
        fprintf(stderr, "pgclient: %d row(s) for id %d (the first id: %s)\n", PQntuples(res),
                c->ids[c->answered], PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "none");
        exit(1);
    }
    c->answered++;
    PQclear(res);
}

/* One result of a pipelined request. Each query's result is followed by a
 * NULL, and the sync's by nothing: two NULLs in a row mean libpq has no
 * more to give while results are still owed. 1: the request is done. */
static int pipelined_result(struct conn *c, PGresult *res)
{
    if (!res) {
        if (c->last_null)
            fail("the pipeline ended before its results", c->pg);
        c->last_null = 1;
        return 0;
    }
    c->last_null = 0;
    if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
        check_row(c, res);
        return 0;
    }
    PQclear(res);
    if (c->answered != queries_per_request)
        fail("the pipeline's sync came before all its results", NULL);
    return 1;
}

/* One result of a request sent a query at a time: the NULL that ends a
 * query's results is when the next may be sent. 1: the request is done. */
static int sequential_result(struct conn *c, PGresult *res)
{
    if (res) {
        check_row(c, res);
        return 0;
    }
    if (c->answered != c->sent)
        fail("a query ended without its row", c->pg);
    if (c->sent == (mode == SEQUENTIAL ? queries_per_request : 1))
        return 1;
    send_query(c);
    flush(c);
    return 0;
}

/* Reads what arrived on `c`; starts its next request at once while
 * `running`, as a server answers the next HTTP request. The number of
 * requests finished. */
static int on_ready(struct conn *c, int running)
{
    int done = 0;
    if (!PQconsumeInput(c->pg))
        fail("PQconsumeInput", c->pg);
    if (c->want_write)
        flush(c);
    while (c->busy && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!(mode == PIPELINED ? pipelined_result(c, res) : sequential_result(c, res)))
            continue;
        done++;
        c->busy = 0;
        if (running)
            start_request(c);
    }
    return done;
}

static void connect_all(struct conn *conns, int count, const char *conninfo)
{
    for (int i = 0; i < count; i++) {
        PGconn *pg = PQconnectdb(conninfo);
        if (PQstatus(pg) != CONNECTION_OK)
            fail("connect", pg);
        PGresult *res = PQprepare(pg, STATEMENT, QUERY, 1, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            fail("prepare", pg);
        PQclear(res);
        if (PQsetnonblocking(pg, 1) != 0)
            fail("PQsetnonblocking", pg);
        if (mode == PIPELINED && !PQenterPipelineMode(pg))
            fail("PQenterPipelineMode", pg);
        conns[i].pg = pg;
    }
}

static int parse_mode(const char *name)
{
    if (!strcmp(name, "db"))
        mode = DB;
    else if (!strcmp(name, "queries"))
        mode = PIPELINED;
    else if (!strcmp(name, "queries-sequential"))
        mode = SEQUENTIAL;
    else
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6 || parse_mode(argv[2]) < 0) {
        fprintf(stderr, "usage: %s CONNINFO db|queries|queries-sequential CONNECTIONS SECONDS "
                        "[QUERIES]\n", argv[0]);
        return 2;
    }
    int count = atoi(argv[3]);
    double seconds = atof(argv[4]);
    if (mode != DB)
        queries_per_request = argc == 6 ? atoi(argv[5]) : 20;
    if (count < 1 || count > MAX_CONNECTIONS || seconds <= 0 || queries_per_request < 1 ||
        queries_per_request > MAX_QUERIES || (mode == DB && argc == 6)) {
        fprintf(stderr, "pgclient: 1 to %d connections, SECONDS > 0, QUERIES (not for db) from "
                        "1 to %d\n", MAX_CONNECTIONS, MAX_QUERIES);
        return 2;
    }
    struct conn *conns = calloc((size_t)count, sizeof(*conns));
    struct pollfd *fds = calloc((size_t)count, sizeof(*fds));
    if (!conns || !fds)
        fail("out of memory", NULL);
    connect_all(conns, count, argv[1]);

    double start = now(), deadline = start + seconds;
    long requests = 0;
    int in_flight = count;
    for (int i = 0; i < count; i++)
        start_request(&conns[i]);
    while (in_flight > 0) {
        double t = now();
        if (t > deadline + DRAIN_SECONDS)
            fail("requests still unanswered long after the end", NULL);
        for (int i = 0; i < count; i++) {
            fds[i].fd = PQsocket(conns[i].pg);
            fds[i].events = (short)(POLLIN | (conns[i].want_write ? POLLOUT : 0));
        }
        if (poll(fds, (nfds_t)count, 100) < 0)
            fail("poll", NULL);
        t = now();
        int running = t < deadline;
        for (int i = 0; i < count; i++) {
            if (!fds[i].revents)
                continue;
            int done = on_ready(&conns[i], running);
            if (running)
                requests += done;
            else
                in_flight -= done;
        }
    }
    printf("requests=%ld seconds=%.3f rate=%.1f\n", requests, seconds, (double)requests / seconds);
    for (int i = 0; i < count; i++)
        PQfinish(conns[i].pg);
    free(conns);
    free(fds);
    return 0;
}
