"""Go templates for ``--format`` (cli/output/template.py): each construct as Go's
``text/template`` with the docker CLI's functions runs it, ``table`` listings as
docker/cli's formatter draws them, and Docker's words for a bad template."""

from __future__ import annotations

import random

import pytest

from cli.commands.flags import UsageError
from cli.commands.language import parse as parse_line
from cli.output.template import Fields, TemplateError, parse, render_listing

DATA = {
    "ID": "abc123",
    "Spec": {
        "Name": "web",
        "Labels": {"tier": "front", "app": "shop"},
        "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}],
        "Replicas": 3,
        "Ratio": 0.5,
        "Empty": [],
    },
    "Args": ["sleep", "100"],
    "Off": False,
    "Nothing": None,
}


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("plain text", "plain text"),
        ("{{.ID}}", "abc123"),
        ("{{.Spec.Name}}", "web"),
        ("{{.Spec.Replicas}} {{.Spec.Ratio}} {{.Off}}", "3 0.5 false"),
        ("{{.Nope}}", "<no value>"),  # a key the JSON has not: Go's map lookup
        ("{{.Nothing}}", "<nil>"),
        ("{{.Args}}", "[sleep 100]"),
        ("{{.Spec.Labels}}", "map[app:shop tier:front]"),
        ("{{json .Spec.Ports}}", '[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080}]'),
        ("{{json .Spec.Name}}", '"web"'),
        ("{{index .Args 1}}", "100"),
        ('{{index .Spec.Labels "tier"}}', "front"),
        ("{{(index .Spec.Ports 0).TargetPort}}", "80"),
        ("{{range .Args}}[{{.}}]{{end}}", "[sleep][100]"),
        ("{{range $i, $a := .Args}}{{$i}}:{{$a}} {{end}}", "0:sleep 1:100 "),
        ("{{range $k, $v := .Spec.Labels}}{{$k}}={{$v}},{{end}}", "app=shop,tier=front,"),
        ("{{range .Spec.Empty}}x{{else}}none{{end}}", "none"),
        ("{{if .Off}}on{{else}}off{{end}}", "off"),
        ("{{if .Spec.Labels}}labelled{{end}}", "labelled"),
        ('{{if eq .Spec.Name "db"}}db{{else if eq .Spec.Name "web"}}web!{{end}}', "web!"),
        ("{{if not .Spec.Empty}}empty{{end}}", "empty"),
        ("{{if and .ID .Off}}both{{else}}not both{{end}}", "not both"),
        ("{{with .Spec}}{{.Name}}{{end}}", "web"),
        ('{{join .Args " "}}', "sleep 100"),
        ('{{join (split "a:b:c" ":") "-"}}', "a-b-c"),
        (
            '{{lower "WeB"}} {{upper .Spec.Name}} {{title "hello big-world"}}',
            "web WEB Hello Big-World",
        ),
        ("{{.Spec.Name | upper}}", "WEB"),
        ('{{.Spec.Name | printf "%s!" | upper}}', "WEB!"),
        ('{{printf "%-5s|%3d|%q|%v" .Spec.Name .Spec.Replicas "x" .Off}}', 'web  |  3|"x"|false'),
        ("{{len .Args}}", "2"),
        ('{{truncate .ID 3}}{{pad "x" 1 2}}', "abc x  "),
        ("{{$name := .Spec.Name}}{{with .Args}}{{$name}}{{end}}", "web"),
        ("a {{- /* a comment */ -}} b", "ab"),
        ("{{.ID -}}   \n  {{- .Spec.Name}}", "abc123web"),
        ('{{"}}"}}', "}}"),
    ],
)
def test_each_construct_runs_as_go_runs_it(template: str, text: str) -> None:
    assert parse(template).render(DATA) == text


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.ID}", 'template parsing error: template: :1: unexpected "}" in operand'),
        ("{{.ID", "template parsing error: template: :1: unclosed action"),
        ("{{nope .ID}}", 'template parsing error: template: :1: function "nope" not defined'),
        ("{{if .ID}}x", "template parsing error: template: :1: unexpected EOF"),
        ("x{{end}}", "template parsing error: template: :1: unexpected {{end}}"),
        ("{{if}}{{end}}", "template parsing error: template: :1: missing value for if"),
        ('{{"open}}', "template parsing error: template: :1: unterminated quoted string"),
        ("a\n{{range}}", "template parsing error: template: :2: missing value for range"),
    ],
)
def test_a_template_go_cannot_parse_is_refused_in_its_words(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(template)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{index .Args 5}}", "error calling index: index out of range: 5"),
        ("{{.Nothing.Name}}", "nil pointer evaluating interface {}.Name"),
        ("{{.ID.Short}}", "can't evaluate field Short in type string"),
        ("{{join .Args}}", "wrong number of args for join: want 2 got 1"),
        ("{{.ID 3}}", "can't give argument to non-function .ID"),
    ],
)
def test_a_template_that_fails_while_running_says_where(template: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(template).render(DATA)
    assert caught.value.message.startswith("template: :1:")
    assert caught.value.message.endswith(reason)


ROW = "*formatter.serviceContext"
HEADER = Fields(ROW, {"ID": "ID", "Name": "NAME", "Replicas": "REPLICAS"})
ROWS = [
    Fields(ROW, {"ID": "8q4i3wqkhekd", "Name": "web", "Replicas": "3/3"}),
    Fields(ROW, {"ID": "0z0kwbbnmzjq", "Name": "a-much-longer-name", "Replicas": "1/1"}),
]


def test_table_draws_docker_s_header_and_aligns_the_columns() -> None:
    out = render_listing("table {{.ID}}\\t{{.Name | upper}}\\t{{.Replicas}}", ROWS, HEADER)
    assert out.splitlines() == [
        "ID             NAME                 REPLICAS",
        "8q4i3wqkhekd   WEB                  3/3",
        "0z0kwbbnmzjq   A-MUCH-LONGER-NAME   1/1",
    ]
    assert render_listing("{{.Name}}:{{.Replicas}}", ROWS, HEADER).splitlines() == [
        "web:3/3",
        "a-much-longer-name:1/1",
    ]
    assert render_listing("json", ROWS[:1], HEADER) == (
        '{"ID":"8q4i3wqkhekd","Name":"web","Replicas":"3/3"}'
    )


def test_a_field_a_listing_row_has_not_is_an_error() -> None:
    with pytest.raises(TemplateError) as caught:
        render_listing("{{.Hostname}}", ROWS, HEADER)
    assert caught.value.message == (
        'template parsing error: template: :1:2: executing "" at <.Hostname>: '
        "can't evaluate field Hostname in type *formatter.serviceContext"
    )


@pytest.mark.parametrize(
    "line",
    [
        "service ls --format '{{.ID'",
        "service ps web --format '{{bogus}}'",
        "node ls --format 'table {{if .Self}}'",
        "node ps --format '{{end}}'",
        "service inspect --format '{{.Spec' web",
        "node inspect -f '{{nope}}' self",
    ],
)
def test_every_command_with_format_refuses_a_bad_template_before_asking(line: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_line(line, random.Random(1))
    assert caught.value.message.startswith("template parsing error: template: :1: ")
