/* Templates: HTML escaping by default, raw values, comments, unknown
 * names, sections over arrays and objects, inverted sections, the element
 * in front, dotted names, partials, nesting bounds, and compile errors
 * with line numbers. */
#include "unit/testing.h"

#include <jansson.h>

#include <uwsgi-aio/aio.h>
#include "app/template.h"

/* the partials of these tests: "row" and "self" (which includes itself) */
static struct aio_template row, self;

static const struct aio_template *partials(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    if (len == 3 && memcmp(name, "row", 3) == 0)
        return &row;
    if (len == 4 && memcmp(name, "self", 4) == 0)
        return &self;
    return NULL;
}

static void compile(struct aio_template *tpl, const char *source)
{
    char error[256] = "";
    if (aio__template_compile(tpl, source, strlen(source), error, sizeof(error)) != AIO_OK)
        fail_msg("compile failed: %s", error);
}

/* Renders `source` against the JSON text `context`; the output, or the
 * status as text when rendering fails. */
static char *render(const char *source, const char *context)
{
    static struct aio_buf out;
    static char status[16];
    struct aio_template tpl;
    compile(&tpl, source);
    json_error_t error;
    json_t *value = context ? json_loads(context, JSON_DECODE_ANY, &error) : NULL;
    if (context && !value)
        fail_msg("bad test context %s: %s", context, error.text);
    aio__buf_free(&out);
    int rc = aio__template_render(&tpl, value, partials, NULL, &out);
    json_decref(value);
    aio__template_free(&tpl);
    if (rc != AIO_OK) {
        snprintf(status, sizeof(status), "rc=%d", rc);
        return status;
    }
    return out.data ? out.data : "";
}

static void escaping(void **state)
{
    (void)state;
    const char *ctx = "{\"title\": \"<b>\\\"Tom\\\" & 'Jerry'</b>\"}";
    assert_str(render("<h1>{{title}}</h1>", ctx),
               "<h1>&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;</h1>");
    assert_str(render("{{{title}}}", ctx), "<b>\"Tom\" & 'Jerry'</b>");
    assert_str(render("[{{ title }}]", ctx),
               "[&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;]");
}

static void variables(void **state)
{
    (void)state;
    const char *ctx = "{\"a\": 1, \"b\": {\"c\": \"2\"}, \"t\": true, \"n\": null, "
                      "\"list\": [1, \"x\"], \"f\": 1.5}";
    assert_str(render("{{a}}+{{b.c}}={{missing}}!", ctx), "1+2=!");
    assert_str(render("{{t}} {{n}}|{{f}} {{list}} {{b}}", ctx),
               "true |1.5 [1,&quot;x&quot;] {&quot;c&quot;:&quot;2&quot;}");
    assert_str(render("{{b.c.d}}{{a.b}}", ctx), ""); /* members of non-objects */
    assert_str(render("no tags at all", ctx), "no tags at all");
    assert_str(render("", ctx), "");
    assert_str(render("x{{! a comment with {braces} }}y", ctx), "xy");
    assert_str(render("{ {a} } {{a}}}", ctx), "{ {a} } 1}");
    assert_str(render("{{a}}", NULL), ""); /* no context at all */
}

static void sections(void **state)
{
    (void)state;
    const char *ctx = "{\"items\": [{\"name\": \"<a>\", \"n\": 1}, {\"name\": \"b\", \"n\": 2}],"
                      " \"empty\": [], \"words\": [\"x\", \"<y>\"], \"user\": {\"name\": \"Ann\"},"
                      " \"name\": \"outer\", \"yes\": true, \"no\": false, \"blank\": \"\","
                      " \"zero\": 0, \"grid\": [[1, 2], [3]]}";
    assert_str(render("<ul>{{#items}}<li>{{n}}:{{name}}</li>{{/items}}</ul>", ctx),
               "<ul><li>1:&lt;a&gt;</li><li>2:b</li></ul>");
    assert_str(render("{{#empty}}never{{/empty}}{{^empty}}none{{/empty}}", ctx), "none");
    assert_str(render("{{#words}}[{{.}}]{{/words}}", ctx), "[x][&lt;y&gt;]");
    assert_str(render("{{#user}}{{name}}{{/user}} {{name}}", ctx), "Ann outer");
    assert_str(render("{{#yes}}{{name}}{{/yes}}{{#no}}x{{/no}}{{^no}}not{{/no}}", ctx),
               "outernot");
    assert_str(render("{{#blank}}x{{/blank}}{{#missing}}x{{/missing}}{{^missing}}m{{/missing}}",
                      ctx), "m");
    assert_str(render("{{#zero}}0 is true{{/zero}}", ctx), "0 is true");
    /* names are looked up outwards: items' elements have no "words" */
    assert_str(render("{{#items}}{{#words}}{{n}}{{.}} {{/words}}{{/items}}", ctx),
               "1x 1&lt;y&gt; 2x 2&lt;y&gt; ");
    assert_str(render("{{#grid}}({{#.}}{{.}}{{/.}}){{/grid}}", ctx), "(12)(3)");
    assert_str(render("{{^yes}}x{{/yes}}", ctx), "");
}

static void standalone_lines(void **state)
{
    (void)state;
    const char *ctx = "{\"rows\": [1, 2], \"none\": []}";
    assert_str(render("<ul>\n  {{#rows}}\n  <li>{{.}}</li>\n  {{/rows}}\n</ul>\n", ctx),
               "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>\n");
    assert_str(render("a\n{{! note }}\nb\r\n{{^none}}\r\nempty\r\n{{/none}}\r\nc", ctx),
               "a\nb\r\nempty\r\nc");
    /* not alone on the line: kept as it is */
    assert_str(render("<p>{{#rows}}{{.}}{{/rows}}</p>\n", ctx), "<p>12</p>\n");
    assert_str(render("x {{#rows}}\n{{/rows}}", ctx), "x \n\n");
    assert_str(render("{{#rows}}{{.}}\n{{/rows}}", ctx), "1\n2\n");
}

static void partial_templates(void **state)
{
    (void)state;
    compile(&row, "<li>{{name}}</li>");
    compile(&self, "{{> self}}");
    const char *ctx = "{\"items\": [{\"name\": \"a\"}, {\"name\": \"<b>\"}], \"name\": \"top\"}";
    assert_str(render("{{#items}}{{> row}}{{/items}}|{{> row}}", ctx),
               "<li>a</li><li>&lt;b&gt;</li>|<li>top</li>");
    assert_str(render("{{> nonesuch}}", ctx), "rc=-5"); /* AIO_EINVAL */
    assert_str(render("{{> self}}", ctx), "rc=-5");     /* past the nesting bound */
    aio__template_free(&row);
    aio__template_free(&self);
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
    assert_non_null(strstr(compile_error("{{a..b}}"), "not a variable name"));
    assert_non_null(strstr(compile_error("{{a.}}"), "not a variable name"));
    assert_str(compile_error("x\n{{#items}}\n<li>"), "line 2: section 'items' is not closed");
    assert_str(compile_error("{{#a}}{{/b}}"),
               "line 1: '{{/b}}' does not close the section open here");
    assert_str(compile_error("\n{{/a}}"), "line 2: '{{/a}}' closes no section");
    assert_non_null(strstr(compile_error("{{> /etc/passwd}}"), "not a template name"));
    assert_non_null(strstr(compile_error("{{>}}"), "not a template name"));
    char deep[33 * 6 + 1] = "";
    for (int i = 0; i < 33; i++)
        strcat(deep, "{{#a}}");
    assert_non_null(strstr(compile_error(deep), "sections nest deeper than 32"));
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
        cmocka_unit_test(escaping),          cmocka_unit_test(variables),
        cmocka_unit_test(sections),          cmocka_unit_test(partial_templates),
        cmocka_unit_test(standalone_lines),
        cmocka_unit_test(errors),            cmocka_unit_test(html_escape),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    render("", NULL); /* frees the static buffer */
    return failed;
}
