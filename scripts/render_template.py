#!/usr/bin/env python3
"""Test oracle for tokamak's chat-template engine: renders a chat template with Jinja2 exactly as
Hugging Face transformers' apply_chat_template does (ImmutableSandboxedEnvironment with
trim_blocks and lstrip_blocks, the loopcontrols extension and the {% generation %} tag, a
json.dumps-based tojson filter, and the raise_exception / strftime_now globals).

Single mode:
    render_template.py TEMPLATE [--now 2024-07-26T10:00:00] < context.json
  TEMPLATE is a .jinja file or a tokenizer_config.json (its "chat_template" is used). The
  context is a JSON object of template variables. Prints the rendered text and exits 0, or
  prints the exception message and exits 1 (2 for usage errors).

Batch mode (what the C++ test uses; one interpreter start for many renders):
    render_template.py --batch [--now ...] < cases.json
  cases.json is a list of {"template": PATH, "context": {...}}; prints a JSON list of
  {"ok": true, "output": TEXT} or {"ok": false, "error": MESSAGE, "type": EXCEPTION_CLASS}, with
  "type" = "raise_exception" when the template called raise_exception().

Needs the Debian python3-jinja2 package; run it with /usr/bin/python3.
"""
import datetime
import json
import sys

try:
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    sys.stderr.write("render_template.py: jinja2 is not installed (apt-get install python3-jinja2)\n")
    sys.exit(3)


class RaisedByTemplate(TemplateError):
    """What raise_exception() throws, so batch mode can tell it from other errors."""


class GenerationTag(jinja2.ext.Extension):
    """transformers' AssistantTracker without the tracking: {% generation %} renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env(now):
    def raise_exception(message):
        raise RaisedByTemplate(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return now.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def load_template(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not path.endswith(".json"):
        return text
    tpl = json.loads(text).get("chat_template")
    if isinstance(tpl, list):  # older configs: [{"name": "default", "template": ...}, ...]
        tpl = next((t["template"] for t in tpl if t.get("name") == "default"), tpl[0]["template"])
    if not isinstance(tpl, str):
        raise ValueError(path + " has no chat_template")
    return tpl


def render(env, cache, path, context):
    if path not in cache:
        cache[path] = env.from_string(load_template(path))
    return cache[path].render(**context)


def main(argv):
    batch = "--batch" in argv
    args = [a for a in argv if a != "--batch"]
    now = datetime.datetime(2024, 7, 26, 10, 0, 0)
    if "--now" in args:
        i = args.index("--now")
        now = datetime.datetime.fromisoformat(args[i + 1])
        del args[i:i + 2]
    env = make_env(now)
    cache = {}
    data = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    if batch:
        if args:
            sys.stderr.write(__doc__)
            return 2
        results = []
        for case in data:
            try:
                results.append({"ok": True,
                                "output": render(env, cache, case["template"], case["context"])})
            except Exception as e:  # the test compares whatever Jinja2 raised
                kind = "raise_exception" if isinstance(e, RaisedByTemplate) else type(e).__name__
                results.append({"ok": False, "error": str(e), "type": kind})
        sys.stdout.write(json.dumps(results))
        return 0
    if len(args) != 1:
        sys.stderr.write(__doc__)
        return 2
    try:
        out = render(env, cache, args[0], data)
    except Exception as e:
        sys.stdout.write(str(e))
        return 1
    sys.stdout.buffer.write(out.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
