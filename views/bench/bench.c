/* TechEmpower's FrameworkBenchmarks on uwsgi-aio: the six classic test
 * types, to their published rules, on a PostgreSQL reached through the
 * worker's connection pool (<uwsgi-aio/aio_pg.h>).
 *
 *   GET /plaintext
 *       "Hello, World!" as text/plain.
 *   GET /json
 *       {"message":"Hello, World!"}: a jansson object made for each request,
 *       serialized by the json renderer.
 *   GET /db
 *       One random row of World (id 1..10000): {"id":N,"randomNumber":M}.
 *   GET /queries?queries=N
 *       N random rows as a JSON array: N SELECTs of a prepared statement in
 *       one round trip (pipeline mode). N is read as the rules say: missing,
 *       not an integer or below 1 is 1; above 500 is 500.
 *   GET /fortunes
 *       Every row of Fortune and one added at request time, sorted by
 *       message, as an HTML table (templates/fortunes.html, escaped).
 *   GET /updates?queries=N
 *       N random rows read (pipelined), each given a new random number
 *       1..10000 and written back (pipelined), answered as the JSON array
 *       of the rows as they now are, in id order. N as for /queries.
 *   GET /db/sleep?s=S
 *       SELECT pg_sleep(S) on a pooled connection, answered "slept S": a
 *       query that takes as long as one likes, to watch the pool wait,
 *       time out and cancel. S is a number of seconds from 0 (else 400).
 *
 * Every response of these views says Server: uwsgi-aio (the host adds
 * Date). A pool call that fails is answered with its status: 503 when no
 * connection could be had (AIO_EUNAVAILABLE, AIO_EFULL), 504 when the
 * answer took too long (AIO_ETIMEDOUT), 500 when PostgreSQL refused.
 *
 * Settings:
 *   bench.conninfo    a libpq connection string (required). Give an address
 *                     (host=127.0.0.1) or a socket directory: a host name is
 *                     resolved by libpq as it connects, blocking the loop.
 *   bench.pool_size   connections per worker, 1 to 1000 (default 20).
 *   bench.acquire_timeout_ms
 *                     how long a request waits for a connection when all
 *                     are taken, before its 503 (default 5000).
 *
 * The tables: schema.sql creates and fills World and Fortune as
 * TechEmpower's setup does (psql -f views/bench/schema.sql, re-runnable);
 * database.py starts a throwaway PostgreSQL of its own (initdb in a
 * temporary directory, a free loopback port), loads schema.sql into it,
 * prints its conninfo and runs until Ctrl-C or a line "stop" on its input:
 *
 *   python3 views/bench/database.py
 *   uwsgi --plugins-dir build --plugin aio --http11-socket 127.0.0.1:8080 \
 *         --aio 512 --aio-views build/views/bench.so \
 *         --aio-setting "bench.conninfo=<what database.py printed>"
 */
#include <uwsgi-aio/aio.h>
#include <uwsgi-aio/aio_pg.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORLD_ROWS 10000
#define MAX_QUERIES 500
#define DEFAULT_POOL_SIZE 20
#define MAX_POOL_SIZE 1000
#define DEFAULT_ACQUIRE_MS 5000

/* Prepared statements, by name: every pooled connection prepares them as
 * it opens, so a request sends only their name and parameters. */
#define SELECT_WORLD "bench_world"
#define UPDATE_WORLD "bench_world_update"
#define SELECT_FORTUNES "bench_fortunes"

static aio_pg_pool *db;

/* ---- random numbers ------------------------------------------------------ */

/* splitmix64, seeded per worker in aio_main: the module's own state, used
 * on the loop thread only, where rand()'s would be shared with whatever
 * else in the process calls it. */
static uint64_t random_state;

static uint64_t next_random(void)
{
    uint64_t z = (random_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* 1..10000: an id of World, or a new randomNumber. */
static int random_world_number(void)
{
    return (int)(next_random() % WORLD_ROWS) + 1;
}

/* aio_main runs in each worker after the fork: the pid tells the workers
 * apart, the clock tells this run from the last. */
static void seed_random(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    random_state = ((uint64_t)getpid() << 32) ^ (uint64_t)now.tv_sec * 1000000000u ^
                   (uint64_t)now.tv_nsec;
}

/* ---- what every view shares ----------------------------------------------- */

/* The rules want a Server header on every response; the host sends Date
 * but no Server. */
static int server_header(aio_request *req)
{
    return aio_add_header(req, "Server", "uwsgi-aio");
}

/* The queries parameter as the rules read it: missing, not an integer or
 * below 1 is 1, above 500 is 500. Digits too many for a long are still an
 * integer above 500. */
static int queries_param(const aio_request *req)
{
    long n = 1;
    if (aio_param_to_long(req, "queries", &n) == AIO_EINVAL) {
        const char *text = aio_param(req, "queries");
        n = text && text[strspn(text, "0123456789")] == '\0' ? MAX_QUERIES : 1;
    }
    return n < 1 ? 1 : n > MAX_QUERIES ? MAX_QUERIES : (int)n;
}

/* One prepared statement on a connection of the pool, held only for it. */
static int exec_prepared(aio_request *req, const char *name, int nparams,
                         const char *const *params, PGresult **result)
{
    aio_pg_conn *conn;
    int rc = aio_pg_acquire(req, db, &conn);
    if (rc != AIO_OK)
        return rc;
    rc = aio_pg_exec(req, conn,
                     &(aio_pg_stmt){.prepared = name, .nparams = nparams, .params = params},
                     result);
    aio_pg_release(req, conn);
    return rc;
}

/* n executions of the prepared statement `name` in one round trip, the
 * i-th with values[i * nparams ...] as its parameters (as text); results
 * in request memory. */
static int pipeline(aio_request *req, aio_pg_conn *conn, const char *name, int n, int nparams,
                    const int *values, PGresult ***results)
{
    size_t count = (size_t)n * (size_t)nparams;
    aio_pg_stmt *stmts = aio_alloc(req, (size_t)n * sizeof(*stmts));
    const char **params = aio_alloc(req, count * sizeof(*params));
    char(*text)[12] = aio_alloc(req, count * sizeof(*text));
    *results = aio_alloc(req, (size_t)n * sizeof(**results));
    if (!stmts || !params || !text || !*results)
        return AIO_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        snprintf(text[i], sizeof(text[i]), "%d", values[i]);
        params[i] = text[i];
    }
    for (int i = 0; i < n; i++)
        stmts[i] = (aio_pg_stmt){.prepared = name, .nparams = nparams,
                                 .params = params + (size_t)i * (size_t)nparams};
    return aio_pg_pipeline(req, conn, stmts, n, *results);
}

/* ---- World ------------------------------------------------------------------ */

struct world {
    int id;
    int random_number;
};

/* The one row a SELECT of World gave. */
static int world_row(aio_request *req, const PGresult *res, struct world *row)
{
    if (PQntuples(res) != 1 || PQnfields(res) != 2)
        return aio_fail(req, "World: %d rows of %d columns where one row of (id, randomNumber) "
                             "was expected", PQntuples(res), PQnfields(res));
    row->id = atoi(PQgetvalue(res, 0, 0));
    row->random_number = atoi(PQgetvalue(res, 0, 1));
    return AIO_OK;
}

static json_t *world_json(const struct world *row)
{
    return json_pack("{s:i, s:i}", "id", row->id, "randomNumber", row->random_number);
}

/* The rows as a JSON array: the result the json renderer sends. */
static int world_list(aio_request *req, const struct world *rows, int n)
{
    json_t *list = json_array();
    for (int i = 0; list && i < n; i++)
        if (json_array_append_new(list, world_json(&rows[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    return list ? aio_set_result(req, list) : AIO_ENOMEM;
}

/* n rows of random ids (the rest to be read), in request memory: up to
 * 500 rows would crowd a small coroutine stack (aio-stack-size). */
static struct world *random_rows(aio_request *req, int n)
{
    struct world *rows = aio_alloc(req, (size_t)n * sizeof(*rows));
    for (int i = 0; rows && i < n; i++)
        rows[i] = (struct world){random_world_number(), 0};
    return rows;
}

/* Reads each row by its id, each its own SELECT, all sent before any
 * answer is read: one round trip whatever n. */
static int read_worlds(aio_request *req, aio_pg_conn *conn, struct world *rows, int n)
{
    int *ids = aio_alloc(req, (size_t)n * sizeof(*ids));
    if (!ids)
        return AIO_ENOMEM;
    for (int i = 0; i < n; i++)
        ids[i] = rows[i].id;
    PGresult **results;
    int rc = pipeline(req, conn, SELECT_WORLD, n, 1, ids, &results);
    for (int i = 0; rc == AIO_OK && i < n; i++)
        rc = world_row(req, results[i], &rows[i]);
    return rc;
}

/* Each row its UPDATE, pipelined like the reads. */
static int write_worlds(aio_request *req, aio_pg_conn *conn, const struct world *rows, int n)
{
    int *values = aio_alloc(req, 2 * (size_t)n * sizeof(*values));
    if (!values)
        return AIO_ENOMEM;
    for (int i = 0; i < n; i++) {
        values[2 * i] = rows[i].id;
        values[2 * i + 1] = rows[i].random_number;
    }
    PGresult **results;
    return pipeline(req, conn, UPDATE_WORLD, n, 2, values, &results);
}

static int by_id(const void *a, const void *b)
{
    int x = ((const struct world *)a)->id, y = ((const struct world *)b)->id;
    return (x > y) - (x < y);
}

/* A new random number for each row of rows sorted by id. An id drawn
 * twice is one row: its entries (side by side) get the same number, which
 * both its UPDATEs write, so the answer is what the table holds. */
static void new_random_numbers(struct world *rows, int n)
{
    for (int i = 0; i < n; i++)
        rows[i].random_number = i > 0 && rows[i].id == rows[i - 1].id
                                    ? rows[i - 1].random_number
                                    : random_world_number();
}

/* GET /db: one random row. */
static int single_query(aio_request *req)
{
    char id[12];
    snprintf(id, sizeof(id), "%d", random_world_number());
    const char *params[] = {id};
    PGresult *res = NULL;
    struct world row = {0, 0};
    int rc = server_header(req);
    if (rc == AIO_OK)
        rc = exec_prepared(req, SELECT_WORLD, 1, params, &res);
    if (rc == AIO_OK)
        rc = world_row(req, res, &row);
    if (rc == AIO_OK)
        rc = aio_result_set_int(req, "id", row.id);
    return rc == AIO_OK ? aio_result_set_int(req, "randomNumber", row.random_number) : rc;
}

/* GET /queries?queries=N: N random rows. */
static int multiple_queries(aio_request *req)
{
    int n = queries_param(req);
    struct world *rows = random_rows(req, n);
    aio_pg_conn *conn = NULL;
    int rc = rows ? server_header(req) : AIO_ENOMEM;
    if (rc == AIO_OK)
        rc = aio_pg_acquire(req, db, &conn);
    if (rc == AIO_OK)
        rc = read_worlds(req, conn, rows, n);
    aio_pg_release(req, conn);
    return rc == AIO_OK ? world_list(req, rows, n) : rc;
}

/* GET /updates?queries=N: N random rows read, renumbered and written back.
 *
 * The writes are N single-row UPDATEs of one prepared statement, pipelined
 * on the connection that read the rows, rather than one UPDATE ... FROM
 * (VALUES ...): the same one round trip, and a statement planned once per
 * connection, where a VALUES list is SQL text made and planned per request
 * (N goes from 1 to 500).
 *
 * They go in ascending id order. Each UPDATE keeps its row locked until
 * it commits, which in a pipeline may be only at its end (one Sync ends
 * one implicit transaction), so two requests that lock shared rows in
 * opposite orders deadlock, and PostgreSQL aborts one of them: a 500 (in
 * drawn order, most of 60 concurrent /updates?queries=500 failed so). In
 * one order for all, a request only ever waits for a row above those it
 * holds, and no cycle of waits can form. A single UPDATE of many rows
 * locks them in the order its plan visits them, which the order of its
 * VALUES does not decide. */
static int updates(aio_request *req)
{
    int n = queries_param(req);
    struct world *rows = random_rows(req, n);
    aio_pg_conn *conn = NULL;
    int rc = rows ? server_header(req) : AIO_ENOMEM;
    if (rc == AIO_OK) /* the order of the writes' row locks (above) */
        qsort(rows, (size_t)n, sizeof(*rows), by_id);
    if (rc == AIO_OK)
        rc = aio_pg_acquire(req, db, &conn);
    if (rc == AIO_OK)
        rc = read_worlds(req, conn, rows, n);
    if (rc == AIO_OK) {
        new_random_numbers(rows, n);
        rc = write_worlds(req, conn, rows, n);
    }
    aio_pg_release(req, conn);
    return rc == AIO_OK ? world_list(req, rows, n) : rc;
}

/* ---- Fortune ------------------------------------------------------------------- */

struct fortune {
    int id;
    const char *message;
};

/* By message, byte by byte: UTF-8's byte order is its code points' order. */
static int by_message(const void *a, const void *b)
{
    return strcmp(((const struct fortune *)a)->message, ((const struct fortune *)b)->message);
}

/* The template's context: {"fortunes": [{"id":..., "message":...}, ...]}. */
static int fortune_result(aio_request *req, const struct fortune *list, int n)
{
    json_t *rows = json_array();
    for (int i = 0; rows && i < n; i++) {
        json_t *row = json_pack("{s:i, s:s}", "id", list[i].id, "message", list[i].message);
        if (!row) { /* json_pack refuses text that is not UTF-8 */
            json_decref(rows);
            return aio_fail(req, "Fortune %d: the message is not UTF-8", list[i].id);
        }
        if (json_array_append_new(rows, row) != 0) {
            json_decref(rows);
            return AIO_ENOMEM;
        }
    }
    json_t *result = aio_result(req);
    if (!rows || !result || json_object_set_new(result, "fortunes", rows) != 0)
        return AIO_ENOMEM;
    return AIO_OK;
}

/* GET /fortunes: the table's rows and one more, sorted, for the template. */
static int fortunes(aio_request *req)
{
    PGresult *res = NULL;
    int rc = server_header(req);
    if (rc == AIO_OK)
        rc = exec_prepared(req, SELECT_FORTUNES, 0, NULL, &res);
    if (rc != AIO_OK)
        return rc;
    if (PQnfields(res) != 2)
        return aio_fail(req, "Fortune: %d columns where (id, message) was expected",
                        PQnfields(res));
    int n = PQntuples(res);
    struct fortune *list = aio_alloc(req, ((size_t)n + 1) * sizeof(*list));
    if (!list)
        return AIO_ENOMEM;
    for (int i = 0; i < n; i++) /* the values live as long as the request's result */
        list[i] = (struct fortune){atoi(PQgetvalue(res, i, 0)), PQgetvalue(res, i, 1)};
    list[n] = (struct fortune){0, "Additional fortune added at request time."};
    qsort(list, (size_t)n + 1, sizeof(*list), by_message);
    return fortune_result(req, list, n + 1);
}

/* ---- plain responses ------------------------------------------------------------- */

/* GET /plaintext */
static int plaintext(aio_request *req)
{
    static const char hello[] = "Hello, World!";
    int rc = server_header(req);
    if (rc == AIO_OK)
        rc = aio_add_header(req, "Content-Type", "text/plain");
    return rc == AIO_OK ? aio_write_body(req, hello, sizeof(hello) - 1) : rc;
}

/* GET /json: the rules want the object made for each request, not a
 * serialization kept from the last one: aio_result() is a fresh object. */
static int json_message(aio_request *req)
{
    int rc = server_header(req);
    return rc == AIO_OK ? aio_result_set_string(req, "message", "Hello, World!") : rc;
}

/* GET /db/sleep?s=S: one query that sleeps S seconds in PostgreSQL. */
static int db_sleep(aio_request *req)
{
    double seconds = -1;
    int rc = server_header(req);
    if (rc != AIO_OK)
        return rc;
    if (aio_param_to_double(req, "s", &seconds) != AIO_OK || !(seconds >= 0))
        return aio_respond_text(req, 400, "s must be a number of seconds from 0\n");
    char text[32];
    snprintf(text, sizeof(text), "%.17g", seconds);
    PGresult *res = NULL;
    rc = aio_pg_query(req, db, &res, "SELECT pg_sleep($1::float8)", 1, text);
    if (rc != AIO_OK)
        return rc;
    aio_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    return aio_printf(req, "slept %g\n", seconds);
}

/* ---- the application -------------------------------------------------------------- */

/* An integer setting from min to max, or `fallback` when not set. */
static int int_setting(aio_config *cfg, const char *name, long min, long max, int fallback,
                       int *out)
{
    const char *text = aio_config_setting(cfg, name);
    *out = fallback;
    if (!text)
        return AIO_OK;
    char *end;
    long n = strtol(text, &end, 10);
    if (end == text || *end != '\0' || n < min || n > max)
        return aio_config_fail(cfg, "the setting %s must be an integer from %ld to %ld (got '%s')",
                               name, min, max, text);
    *out = (int)n;
    return AIO_OK;
}

static int prepare_statements(aio_config *cfg)
{
    int rc = aio_pg_prepare(cfg, db, SELECT_WORLD,
                            "SELECT id, randomNumber FROM World WHERE id = $1::int");
    if (rc == AIO_OK)
        rc = aio_pg_prepare(cfg, db, UPDATE_WORLD,
                            "UPDATE World SET randomNumber = $2::int WHERE id = $1::int");
    if (rc == AIO_OK)
        rc = aio_pg_prepare(cfg, db, SELECT_FORTUNES, "SELECT id, message FROM Fortune");
    return rc;
}

static void add_view(aio_config *cfg, const char *route, const char *pattern, aio_view_fn view,
                     const char *renderer)
{
    aio_add_route(cfg, route, pattern);
    aio_add_view_spec(cfg, &(struct aio_view_spec){.route = route, .view = view,
                                                   .flags = AIO_COROUTINE | AIO_GET,
                                                   .renderer = renderer});
}

int aio_main(aio_config *cfg)
{
    const char *conninfo = aio_config_setting(cfg, "bench.conninfo");
    if (!conninfo)
        return aio_config_fail(cfg, "the setting bench.conninfo (a libpq connection string, "
                                    "e.g. host=127.0.0.1 dbname=hello_world) is missing");
    int size, acquire_ms;
    if (int_setting(cfg, "bench.pool_size", 1, MAX_POOL_SIZE, DEFAULT_POOL_SIZE, &size) !=
            AIO_OK ||
        int_setting(cfg, "bench.acquire_timeout_ms", 1, 3600000, DEFAULT_ACQUIRE_MS,
                    &acquire_ms) != AIO_OK)
        return AIO_EINVAL;
    db = aio_pg_pool_new(cfg, "bench", &(struct aio_pg_options){.conninfo = conninfo,
                                                               .size = size,
                                                               .acquire_timeout_ms = acquire_ms});
    if (!db || prepare_statements(cfg) != AIO_OK)
        return AIO_EINVAL; /* the pool said why */
    seed_random();
    add_view(cfg, "bench_plaintext", "/plaintext", plaintext, NULL);
    add_view(cfg, "bench_json", "/json", json_message, "json");
    add_view(cfg, "bench_db", "/db", single_query, "json");
    add_view(cfg, "bench_queries", "/queries", multiple_queries, "json");
    add_view(cfg, "bench_fortunes", "/fortunes", fortunes, "templates/fortunes.html");
    add_view(cfg, "bench_updates", "/updates", updates, "json");
    add_view(cfg, "bench_db_sleep", "/db/sleep", db_sleep, NULL);
    return 0;
}
