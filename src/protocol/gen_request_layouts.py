#!/usr/bin/env python3
"""Writes src/protocol/request_layouts.rs: the wire layout of every request body
that kafka-protocol decodes, as tables for src/protocol/prescan.rs.

The tables are read off kafka-protocol's own generated decoders
(src/messages/*_request.rs of the crate in the cargo registry), so the
pre-scanner walks a frame exactly as the decoder will: same fields, same
version conditions, same tagged fields. Re-run after upgrading the crate:

    python3 src/protocol/gen_request_layouts.py > src/protocol/request_layouts.rs

(the crate must be in ~/.cargo/registry; `cargo fetch` puts it there).
"""

import glob
import os
import re
import sys

CRATE_VERSION = "0.18"
MAX_VERSION = 127  # above every version any message has
ALL = frozenset(range(MAX_VERSION + 1))

TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\d+|::|>=|<=|==|!=|&&|\|\||=>|\.\.|\S'
)

PRIMITIVES = {
    "Int8": "I8",
    "Int16": "I16",
    "UInt16": "U16",
    "Int32": "I32",
    "Int64": "I64",
    "Float64": "F64",
    "Uuid": "Uuid",
    "Boolean": "Bool",
    "String": "Str",
    "CompactString": "CompactStr",
    "Bytes": "Bytes",
    "CompactBytes": "CompactBytes",
    "UnsignedVarInt": "UnsignedVarInt",  # tagged-field headers only
}


def crate_dir():
    pattern = os.path.expanduser(
        f"~/.cargo/registry/src/*/kafka-protocol-{CRATE_VERSION}*/src/messages"
    )
    found = sorted(glob.glob(pattern))
    if not found:
        sys.exit(f"kafka-protocol {CRATE_VERSION} not found ({pattern}); run cargo fetch")
    return found[-1]


class Parser:
    """Just enough of Rust to read the generated `decode` bodies."""

    def __init__(self, text):
        self.t = TOKEN.findall(text)
        self.i = 0

    def peek(self, k=0):
        return self.t[self.i + k] if self.i + k < len(self.t) else None

    def take(self, want=None):
        tok = self.t[self.i]
        if want is not None and tok != want:
            raise SyntaxError(f"expected {want!r}, got {tok!r} near {self.t[self.i:self.i + 12]}")
        self.i += 1
        return tok

    def skip_balanced(self, open_, close):
        depth = 0
        while True:
            tok = self.take()
            if tok == open_:
                depth += 1
            elif tok == close:
                depth -= 1
                if depth == 0:
                    return

    def cond(self):
        """`version OP N` terms joined by && / ||, up to the `{`."""
        result = None
        join = None
        while self.peek() != "{":
            if self.peek() in ("&&", "||"):
                join = self.take()
                continue
            self.take("version")
            op = self.take()
            n = int(self.take())
            term = frozenset(
                v
                for v in ALL
                if {"<=": v <= n, ">=": v >= n, "==": v == n, "!=": v != n, "<": v < n, ">": v > n}[
                    op
                ]
            )
            if result is None:
                result = term
            elif join == "&&":
                result = result & term
            else:
                result = result | term
        return result

    def ty(self):
        """`types::X`, `types::X(inner)`, `types::Struct { version }`."""
        self.take("types")
        self.take("::")
        name = self.take()
        if name in ("Array", "CompactArray"):
            self.take("(")
            inner = self.ty()
            self.take(")")
            return (name, inner)
        if name in ("Struct", "OptionStruct"):
            self.skip_balanced("{", "}")
            return (name,)
        if name in PRIMITIVES:
            return (name,)
        raise SyntaxError(f"unknown type {name}")

    def expr(self):
        """Returns [(versions, type)] of what the expression decodes."""
        if self.peek() == "if":
            self.take()
            c = self.cond()
            self.take("{")
            a = self.expr()
            self.take("}")
            self.take("else")
            self.take("{")
            b = self.expr()
            self.take("}")
            return [(c & v, t) for v, t in a] + [((ALL - c) & v, t) for v, t in b]
        if self.peek() == "types":
            t = self.ty()
            self.take(".")
            self.take("decode")
            self.skip_balanced("(", ")")
            self.take("?")
            while self.peek() == ".":  # .into() and the like
                self.take()
                self.take()
                self.skip_balanced("(", ")")
            return [(ALL, t)]
        # A default value: skip to the end of the expression.
        depth = 0
        while True:
            tok = self.peek()
            if depth == 0 and tok in (";", "}"):
                return []
            if tok in ("(", "{", "["):
                depth += 1
            elif tok in (")", "}", "]"):
                depth -= 1
            self.take()


def parse_decode(body):
    """Fields [(name, versions, type)], tagged-field versions, tags [(tag, name, versions, type)]."""
    p = Parser(body)
    fields, tags = [], []
    flexible = frozenset()

    def stmts(versions, in_tags):
        nonlocal flexible
        while p.peek() not in (None, "}"):
            tok = p.peek()
            if tok == "let":
                p.take()
                if p.peek() == "mut":
                    p.take()
                name = p.take()
                if p.peek() == ":":
                    while p.peek() != "=":
                        p.take()
                p.take("=")
                if name == "num_tagged_fields":
                    flexible = versions
                for v, t in p.expr():
                    if not in_tags and name not in ("tag", "size", "num_tagged_fields"):
                        fields.append((name, v & versions, t))
                p.take(";")
            elif tok == "if":
                p.take()
                c = p.cond()
                p.take("{")
                stmts(versions & c, in_tags)
                p.take("}")
                if p.peek() == "else":
                    p.take()
                    p.take("{")
                    stmts(versions - c, in_tags)
                    p.take("}")
            elif tok == "for":
                while p.peek() != "{":
                    p.take()
                p.take("{")
                stmts(versions, True)
                p.take("}")
            elif tok == "match":
                p.take()
                p.take("tag")
                p.take("{")
                while p.peek() != "}":
                    arm = p.take()
                    p.take("=>")
                    p.take("{")
                    if arm == "_":
                        p.i -= 1
                        p.skip_balanced("{", "}")
                        continue
                    start = len(tags)
                    arm_stmts(int(arm), versions)
                    p.take("}")
                    if len(tags) == start:
                        raise SyntaxError(f"tag {arm} decodes nothing")
                p.take("}")
            elif tok == "bail":
                p.take()
                p.take("!")
                p.skip_balanced("(", ")")
                p.take(";")
            elif tok == "Ok":
                return
            else:
                # `name.insert(...);`, `buf.try_get_bytes(...)`: skip the statement.
                depth = 0
                while not (depth == 0 and p.peek() == ";"):
                    t = p.take()
                    if t in ("(", "{", "["):
                        depth += 1
                    elif t in (")", "}", "]"):
                        depth -= 1
                p.take(";")

    def arm_stmts(tag, versions):
        while p.peek() != "}":
            tok = p.peek()
            if tok == "if":
                p.take()
                c = p.cond()
                p.take("{")
                arm_stmts(tag, versions & c)
                p.take("}")
                if p.peek() == "else":
                    p.take()
                    p.take("{")
                    arm_stmts(tag, versions - c)
                    p.take("}")
            elif tok == "bail":
                p.take()
                p.take("!")
                p.skip_balanced("(", ")")
                p.take(";")
            else:
                name = p.take()
                p.take("=")
                for v, t in p.expr():
                    tags.append((tag, name, v & versions, t))
                p.take(";")

    # Skip the leading version check.
    p.take("if")
    p.cond()
    p.skip_balanced("{", "}")
    stmts(ALL, False)
    return fields, flexible, tags


def struct_fields(text, name):
    m = re.search(r"pub struct " + name + r" \{(.*?)\n\}", text, re.S)
    return dict(re.findall(r"pub (\w+): ([^\n]+),", m.group(1)))


def inner_struct(rust_type, known):
    for word in reversed(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rust_type)):
        if word in known:
            return word
    raise SyntaxError(f"no struct in {rust_type}")


def ranges(versions):
    out = []
    for v in sorted(versions):
        if out and out[-1][1] == v - 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return [(a, 32767 if b == MAX_VERSION else b) for a, b in out]


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def main():
    mdir = crate_dir()
    messages_rs = open(os.path.join(os.path.dirname(mdir), "messages.rs")).read()
    keys = dict(
        (n, int(k))
        for n, k in re.findall(r"impl Request for (\w+) \{\s*const KEY: i16 = (\d+);", messages_rs)
    )
    modules = []  # (module, [static text]); one Rust module per message file,
    # since struct names repeat across messages
    top = []
    for path in sorted(glob.glob(os.path.join(mdir, "*_request.rs"))):
        text = open(path).read()
        module = os.path.basename(path)[:-3]
        impls = dict(
            re.findall(
                r"impl Decodable for (\w+) \{\n    fn decode<B: ByteBuf>\(buf: &mut B, version: i16\) -> Result<Self> \{\n(.*?)\n    \}\n\}",
                text,
                re.S,
            )
        )
        names = set(impls)
        statics = []

        def ty_rust(t, rust_type):
            kind = t[0]
            if kind in ("Array", "CompactArray"):
                return f"Ty::{kind}(&{ty_rust(t[1], rust_type)})"
            if kind in ("Struct", "OptionStruct"):
                s = inner_struct(rust_type, names)
                variant = "Struct" if kind == "Struct" else "OptionStruct"
                return f"Ty::{variant}(&{snake(s)})"
            return f"Ty::{PRIMITIVES[kind]}"

        for sname, body in impls.items():
            try:
                fields, flexible, tags = parse_decode(body)
            except (SyntaxError, ValueError) as e:
                sys.exit(f"{module}::{sname}: {e}")
            decl = struct_fields(text, sname)
            flex = ranges(flexible)
            if len(flex) > 1 or (flex and flex[0][1] != 32767):
                raise SyntaxError(f"{sname}: tagged fields not from a version on: {flex}")
            flexible_from = flex[0][0] if flex else 32767
            lines = [f"/// `{sname}`.", f"pub(super) static {snake(sname)}: Layout = Layout {{"]
            lines.append(f"    flexible_from: {flexible_from},")
            lines.append("    fields: &[")
            for name, versions, t in fields:
                for lo, hi in ranges(versions):
                    lines.append(
                        f"        Field {{ min: {lo}, max: {hi}, ty: {ty_rust(t, decl[name])} }}, // {name}"
                    )
            lines.append("    ],")
            lines.append("    tags: &[")
            for tag, name, versions, t in tags:
                for lo, hi in ranges(versions):
                    lines.append(
                        f"        Tag {{ tag: {tag}, min: {lo}, max: {hi}, ty: {ty_rust(t, decl[name])} }}, // {name}"
                    )
            lines.append("    ],")
            lines.append("};")
            statics.append("\n".join(lines))
            if sname in keys:
                top.append((keys[sname], f"{module}::{snake(sname)}"))
        modules.append((module, statics))
    print("// @generated by src/protocol/gen_request_layouts.py from the decoders of")
    print(f"// kafka-protocol {CRATE_VERSION}: the wire layout of every request body. Do not edit;")
    print("// re-run the script after upgrading the crate.")
    print()
    full_version = os.path.basename(os.path.dirname(os.path.dirname(mdir)))
    full_version = full_version[len("kafka-protocol-"):]
    print("use super::prescan::Layout;")
    print()
    print("/// The kafka-protocol release these tables were read from (checked against")
    print("/// Cargo.lock by a unit test, so an upgrade cannot leave them stale).")
    print("#[cfg(test)]")
    print(f'pub(crate) const KAFKA_PROTOCOL_VERSION: &str = "{full_version}";')
    print()
    print("/// The body layout of requests with this api key (None: kafka-protocol has none).")
    print("pub(crate) fn request_layout(api_key: i16) -> Option<&'static Layout> {")
    print("    match api_key {")
    for key, path in sorted(top):
        print(f"        {key} => Some(&{path}),")
    print("        _ => None,")
    print("    }")
    print("}")
    for module, statics in modules:
        print()
        print(f"mod {module} {{")
        body = "\n".join(statics)
        used = [n for n in ("Field", "Layout", "Tag", "Ty") if re.search(r"\b" + n + r"\b", body)]
        print(f"    use super::super::prescan::{{{', '.join(used)}}};")
        for text in statics:
            print()
            print("\n".join(("    " + l) if l else l for l in text.split("\n")))
        print("}")


if __name__ == "__main__":
    main()
