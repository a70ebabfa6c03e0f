"""Render deploy/helm/wms without helm: the Go-template subset the chart uses, via Jinja2.

No helm binary installs here (no Go toolchain, no Debian package), so the test
suite renders the chart with this and validates the result against the
Kubernetes schemas. Where ``helm`` is on PATH, tests/deploy/test_helm_chart.py
also runs ``helm lint`` and ``helm template``. The chart keeps to this subset
(anything else is an error here, not a silent difference):

  {{ .Values.a.b }} {{ .Release.Name }} {{ .Release.Namespace }} {{ .Chart.AppVersion }}
  {{ X | quote }}  {{ X | default Y }}  {{ toYaml X | nindent N }}
  {{ include "name" . | nindent N }}  {{ define "name" }}…{{ end }}
  {{ if X }} {{ else }} {{ end }}  {{ if and X Y }} {{ if not X }}  {{ range $k, $v := X }}
  {{- … -}} trim whitespace as in Go templates.

    python ops/helm_render.py deploy/helm/wms -f deploy/helm/instances/es-mad-1.yaml
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jinja2
import yaml

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
_DOTTED = re.compile(r"(?<![\w$\"])\.(Values|Release|Chart)((?:\.\w+)*)")


class ChartError(ValueError):
    pass


def _expression(text: str) -> str:
    """A Go pipeline of the subset as a Jinja2 expression."""
    text = _DOTTED.sub(lambda m: m.group(1) + m.group(2), text.strip())
    text = re.sub(r"\$(\w+)", r"v_\1", text)
    stages = [stage.strip() for stage in text.split("|")]
    result = _call(stages[0])
    for stage in stages[1:]:
        name, *args = stage.split(None, 1)
        result = f"{name}({result}{', ' + args[0] if args else ''})"
    return result


def _call(text: str) -> str:
    name, *rest = text.split(None, 1)
    if name in ("toYaml", "quote", "not"):
        return f"{name}({_call(rest[0])})"
    if name in ("and", "or"):
        return f" {name} ".join(f"({_call(a)})" for a in rest[0].split())
    if name == "include":
        template, _dot = rest[0].rsplit(None, 1)
        return f"include({template})"
    if name == "default":
        fallback, value = rest[0].split(None, 1)
        return f"default({_call(value)}, {fallback})"
    if rest:
        raise ChartError(f"unsupported template function in: {text}")
    return name


def translate(source: str) -> str:
    """Go template text (the subset) → Jinja2 text; defines become named macros."""
    out, stack, pos = [], [], 0
    for match in _ACTION.finditer(source):
        out.append(source[pos : match.start()].replace("{#", "{{ '{#' }}"))
        pos = match.end()
        left, body, right = match.group(1), match.group(2), match.group(3)
        ltrim, rtrim = ("-" if left else ""), ("-" if right else "")
        if body.startswith("/*"):
            out.append(f"{{#{ltrim} comment {rtrim}#}}")
            continue
        keyword = body.split(None, 1)[0]
        rest = body[len(keyword) :].strip()
        if keyword == "if":
            stack.append("if")
            out.append(f"{{%{ltrim} if {_expression(rest)} {rtrim}%}}")
        elif keyword == "else":
            out.append(f"{{%{ltrim} else {rtrim}%}}")
        elif keyword == "range":
            names, value = rest.split(":=")
            key, item = (n.strip().replace("$", "v_") for n in names.split(","))
            stack.append("for")
            out.append(f"{{%{ltrim} for {key}, {item} in items({_expression(value)}) {rtrim}%}}")
        elif keyword == "define":
            stack.append("define")
            out.append(f"{{%{ltrim} set defines[{rest}] {rtrim}%}}")
        elif keyword == "end":
            if not stack:
                raise ChartError("{{ end }} without an open block")
            block = stack.pop()
            out.append(f"{{%{ltrim} end{'set' if block == 'define' else block} {rtrim}%}}")
        else:
            out.append(f"{{{{{ltrim} {_expression(body)} {rtrim}}}}}")
    if stack:
        raise ChartError(f"unclosed {stack[-1]}")
    out.append(source[pos:])
    return "".join(out)


def _to_yaml(value) -> str:
    if value in (None, "", {}, []):
        return ""
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")


def _nindent(text, width: int) -> str:
    pad = " " * width
    return "\n" + "\n".join(pad + line if line else line for line in str(text).splitlines())


def _quote(value) -> str:
    escaped = str("" if value is None else value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _items(value):
    return sorted((value or {}).items())


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def render(chart: Path, value_files=(), *, release="wms", namespace="default") -> list[dict]:
    """The chart's manifests as dicts, in template file order, for these values."""
    chart = Path(chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    for path in value_files:
        values = _deep_merge(values, yaml.safe_load(Path(path).read_text()) or {})
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    defines: dict[str, str] = {}
    context = {
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        "Chart": {
            "Name": meta["name"],
            "Version": meta["version"],
            "AppVersion": meta["appVersion"],
        },
        "toYaml": _to_yaml,
        "nindent": _nindent,
        "quote": _quote,
        "default": lambda value, fallback: value if value not in (None, "", {}, []) else fallback,
        "items": _items,
        "defines": defines,
    }
    context["include"] = lambda name: env.from_string(defines[name]).render(context).strip("\n")
    templates = sorted((chart / "templates").iterdir())
    for helper in (t for t in templates if t.suffix == ".tpl"):
        # A define is captured as raw (translated) source and rendered where included.
        for name, body in re.findall(
            r'\{\{-?\s*define\s+"([^"]+)"\s*-?\}\}(.*?)\{\{-?\s*end\s*-?\}\}',
            helper.read_text(),
            re.DOTALL,
        ):
            defines[name] = translate(body)
    documents = []
    for template in (t for t in templates if t.suffix == ".yaml"):
        try:
            text = env.from_string(translate(template.read_text())).render(context)
        except (jinja2.TemplateError, ChartError) as exc:
            raise ChartError(f"{template.name}: {exc}") from exc
        documents.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return documents


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Render the WMS chart without helm.")
    parser.add_argument("chart", type=Path)
    parser.add_argument("-f", "--values", action="append", default=[], type=Path)
    parser.add_argument("--release", default="wms")
    parser.add_argument("--namespace", default="default")
    args = parser.parse_args(argv)
    docs = render(args.chart, args.values, release=args.release, namespace=args.namespace)
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
