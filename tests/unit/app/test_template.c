/* Templates: HTML escaping by default, raw values, comments, unknown
 * names, and compile errors with line numbers. */
#include "unit/testing.h"

#include <uwsgi-aio/aio.h>
#include "app/template.h"

static const char *lookup(void *ctx, const char *name, size_t len)
{
    const char *const *vars = ctx;
    for (size_t i = 0; vars[i]; i += 2)
        if (strlen(vars[i]) == len && memcmp(vars[i], name, len) == 0)
            return vars[i + 1];
    return NULL;
}

static char *render(const char *source, const char *const *vars)
{
    static struct aio_buf out;
    struct aio_template tpl;
    char error[256] = "";
    if (aio__template_compile(&tpl, source, strlen(source), error, sizeof(error)) != AIO_OK)
        fail_msg("compile failed: %s", error);
    aio__buf_free(&out);
    assert_int_equal(aio__template_render(&tpl, lookup, (void *)vars, &out), AIO_OK);
    aio__template_free(&tpl);
    return out.data ? out.data : "";
}

static void escaping(void **state)
{
    (void)state;
    const char *vars[] = {"title", "<b>\"Tom\" & 'Jerry'</b>", NULL};
    assert_str(render("<h1>{{title}}</h1>", vars),
               "<h1>&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;</h1>");
    assert_str(render("{{{title}}}", vars), "<b>\"Tom\" & 'Jerry'</b>");
    assert_str(render("[{{ title }}]", vars),
               "[&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;]");
}

static void variables(void **state)
{
    (void)state;
    const char *vars[] = {"a", "1", "b.c", "2", NULL};
    assert_str(render("{{a}}+{{b.c}}={{missing}}!", vars), "1+2=!");
    assert_str(render("no tags at all", vars), "no tags at all");
    assert_str(render("", vars), "");
    assert_str(render("x{{! a comment with {braces} }}y", vars), "xy");
    assert_str(render("{ {a} } {{a}}}", vars), "{ {a} } 1}");
}

static const char *compile_error(const char *source)
{
    static char error[256];
    struct aio_template tpl;
    error[0] = '\0';
    assert_int_equal(aio__template_compile(&tpl, source, strlen(source), error, sizeof(error)),
                     AIO_EINVAL);
    return error;
}

static void errors(void **state)
{
    (void)state;
    assert_non_null(strstr(compile_error("line1\nline2 {{title"), "line 2"));
    assert_non_null(strstr(compile_error("a\nb\nc {{{raw}}"), "line 3"));
    assert_non_null(strstr(compile_error("{{ bad name }}"), "not a variable name"));
    assert_non_null(strstr(compile_error("{{}}"), "not a variable name"));
    assert_non_null(strstr(compile_error("{{1st}}"), "not a variable name"));
    struct aio_template tpl;
    char error[64];
    assert_int_equal(aio__template_compile(&tpl, "a\0b", 3, error, sizeof(error)), AIO_EINVAL);
}

static void html_escape(void **state)
{
    (void)state;
    struct aio_buf out = AIO_BUF_INIT;
    assert_int_equal(aio__html_escape(&out, "plain"), AIO_OK);
    assert_int_equal(aio__html_escape(&out, "&&"), AIO_OK);
    assert_str(out.data, "plain&amp;&amp;");
    aio__buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaping),
        cmocka_unit_test(variables),
        cmocka_unit_test(errors),
        cmocka_unit_test(html_escape),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    render("", (const char *[]){NULL}); /* frees the static buffer */
    return failed;
}
