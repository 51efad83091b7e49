/* validate.c - declared parameters (struct aio_param_rule, Kore's
 * validators): compiled with the view, checked after the body is read and
 * before the view runs, so that a view sees only values it declared good. */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"

struct aio_param_check {
    struct aio_param_rule rule; /* name and regex copied */
    regex_t regex;
    int has_regex;
};

static void free_checks(struct aio_param_check *checks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)checks[i].rule.name);
        free((char *)checks[i].rule.regex);
        if (checks[i].has_regex)
            regfree(&checks[i].regex);
    }
    free(checks);
}

void aio__param_rules_free(struct aio_view *view)
{
    free_checks(view->params, view->nparams);
    view->params = NULL;
    view->nparams = 0;
}

/* AIO_OK, or AIO_EINVAL with why. */
static int rule_valid(const struct aio_param_rule *r, char *why, size_t size)
{
    unsigned known = AIO_PARAM_REQUIRED | AIO_PARAM_INTEGER | AIO_PARAM_NUMBER | AIO_PARAM_RANGE;
    const char *wrong = NULL;
    if (!*r->name)
        wrong = "has no name";
    else if (r->flags & ~known)
        wrong = "has unknown flags";
    else if ((r->flags & AIO_PARAM_INTEGER) && (r->flags & AIO_PARAM_NUMBER))
        wrong = "is AIO_PARAM_INTEGER or AIO_PARAM_NUMBER, not both";
    else if ((r->flags & AIO_PARAM_RANGE) && !(r->flags & (AIO_PARAM_INTEGER | AIO_PARAM_NUMBER)))
        wrong = "has AIO_PARAM_RANGE without AIO_PARAM_INTEGER or AIO_PARAM_NUMBER";
    else if ((r->flags & AIO_PARAM_RANGE) && !(r->min <= r->max))
        wrong = "has a range whose min is above its max";
    if (wrong)
        snprintf(why, size, "parameter rule '%s' %s", r->name, wrong);
    return wrong ? AIO_EINVAL : AIO_OK;
}

static int compile(struct aio_param_check *c, char *why, size_t size)
{
    if (!c->rule.regex)
        return AIO_OK;
    size_t len = strlen(c->rule.regex) + 5;
    char *anchored = malloc(len);
    if (!anchored)
        return AIO_ENOMEM;
    snprintf(anchored, len, "^(%s)$", c->rule.regex);
    int rc = regcomp(&c->regex, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc != 0) {
        char reason[128];
        regerror(rc, &c->regex, reason, sizeof(reason));
        snprintf(why, size, "parameter rule '%s': invalid regex: %s", c->rule.name, reason);
        return AIO_EINVAL;
    }
    c->has_regex = 1;
    return AIO_OK;
}

int aio__param_rules_copy(struct aio_view *view, const struct aio_param_rule *rules, char *why,
                          size_t why_size)
{
    size_t n = 0;
    while (rules && rules[n].name)
        n++;
    if (!n)
        return AIO_OK;
    struct aio_param_check *checks = calloc(n, sizeof(*checks));
    if (!checks)
        return AIO_ENOMEM;
    int rc = AIO_OK;
    size_t done = 0;
    for (; done < n && rc == AIO_OK; done++) {
        struct aio_param_check *c = &checks[done];
        c->rule = rules[done];
        c->rule.name = strdup(rules[done].name);
        c->rule.regex = rules[done].regex ? strdup(rules[done].regex) : NULL;
        if (!c->rule.name || (rules[done].regex && !c->rule.regex))
            rc = AIO_ENOMEM;
        if (rc == AIO_OK)
            rc = rule_valid(&c->rule, why, why_size);
        if (rc == AIO_OK)
            rc = compile(c, why, why_size);
    }
    if (rc != AIO_OK) {
        free_checks(checks, done);
        return rc;
    }
    view->params = checks;
    view->nparams = n;
    return AIO_OK;
}

/* The parameter's number, read as the view will read it (aio_param_to_long
 * or aio_param_to_double), or NAN when it is not one of the kind. */
static double number_of(const struct aio_request *req, const struct aio_param_rule *r)
{
    if (r->flags & AIO_PARAM_INTEGER) {
        long v;
        return aio_param_to_long(req, r->name, &v) == AIO_OK ? (double)v : NAN;
    }
    double v;
    return aio_param_to_double(req, r->name, &v) == AIO_OK ? v : NAN;
}

/* What is wrong with `value` under the rule (NULL: nothing). */
static const char *judge(struct aio_request *req, const struct aio_param_check *c,
                         const char *value)
{
    const struct aio_param_rule *r = &c->rule;
    if (!value || !*value)
        return r->flags & AIO_PARAM_REQUIRED ? "is required" : NULL;
    if (r->max_len && strlen(value) > r->max_len)
        return aio__arena_printf(&req->arena, "is longer than %zu bytes", r->max_len);
    if (r->flags & (AIO_PARAM_INTEGER | AIO_PARAM_NUMBER)) {
        const char *kind = r->flags & AIO_PARAM_INTEGER ? "an integer" : "a number";
        double v = number_of(req, r);
        int out = isnan(v) || ((r->flags & AIO_PARAM_RANGE) && (v < r->min || v > r->max));
        if (out && (r->flags & AIO_PARAM_RANGE))
            return aio__arena_printf(&req->arena, "must be %s from %g to %g", kind, r->min,
                                     r->max);
        if (out)
            return aio__arena_printf(&req->arena, "must be %s", kind);
    }
    if (c->has_regex && regexec(&c->regex, value, 0, NULL, 0) != 0)
        return aio__arena_printf(&req->arena, "must match %s", r->regex);
    return NULL;
}

int aio__params_check(struct aio_request *req, const struct aio_view *view, const char **why)
{
    for (size_t i = 0; i < view->nparams; i++) {
        const struct aio_param_check *c = &view->params[i];
        const char *wrong = judge(req, c, aio_param(req, c->rule.name));
        if (wrong) {
            *why = aio__arena_printf(&req->arena, "Parameter '%s' %s.", c->rule.name, wrong);
            if (!*why)
                *why = "A parameter is not valid.";
            return 400;
        }
    }
    return 0;
}
