#!/usr/bin/env python3
"""Fails when modules of one crate import each other in a circle.

    scripts/module-circles.py [ROOT]     every crate under ROOT (default: the repository); exit 1 on a circle
    scripts/module-circles.py --self-test

A module is a file (`src/a/b.rs` or `src/a/b/mod.rs` is `a::b`; `lib.rs` and `main.rs` are the crate's root).
A file imports a module when its code names a path into it: `crate::a::b::Item`, `super::Item`,
`self::child::Item`, in a `use` tree or inline, or in an intra-doc link (rustdoc resolves it), resolved to the
longest prefix that is a module file. Other comments and string literals are not code, and a path into the
file's own module or into an inline module of it is no edge. Declaring a child (`mod child;`) is not an import; re-exporting from it (`pub use
child::Item`) is. Two modules in a circle are one concept split badly, or two concepts tangled: give the shared
piece a module of its own.
"""

import os
import re
import sys
import tempfile

SKIP_DIRS = {"target", ".git", "node_modules", "fixtures"}


DOC_LINK = re.compile(r"(?:\[`|\]\()((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def strip(text):
    """The code of a Rust file: comments, strings and char literals blanked, lines kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            # An intra-doc link (`[`crate::a::B`]`, `[B](super::B)`) makes rustdoc resolve into that module: it
            # is kept, as code; the rest of a comment is not.
            if text.startswith(("///", "//!"), i):
                out.append(" ".join(DOC_LINK.findall(text[i:end])))
            i = end
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    out.append("\n" if text[i] == "\n" else "")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 260]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            close = '"' + hashes
            end = text.find(close, i + 2 + len(hashes))
            end = n if end < 0 else end + len(close)
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            literal = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|[^\\'])'", text[i:])
            if literal:
                out.append("' '")
                i += literal.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def use_paths(tree, prefix=""):
    """The paths a `use` tree names: `a::{b, c::{d, e}}` gives a::b, a::c::d, a::c::e."""
    tree = tree.strip()
    if not tree:
        return []
    depth, start, parts = 0, 0, []
    brace = tree.find("{")
    if brace < 0:
        return [prefix + tree.split(" as ")[0].strip()]
    head, body = tree[:brace], tree[brace + 1:tree.rfind("}")]
    for k, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:k])
            start = k + 1
    parts.append(body[start:])
    found = []
    for part in parts:
        found.extend(use_paths(part, prefix + head))
    return found


def module_files(src):
    """{module path (tuple): file} for one crate's src folder."""
    modules = {}
    for folder, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(folder, name), src)[:-3].split(os.sep)
            if rel in (["lib"], ["main"]):
                key = ()
            elif rel[-1] == "mod":
                key = tuple(rel[:-1])
            else:
                key = tuple(rel)
            if rel[0] == "bin":
                continue
            modules.setdefault(key, os.path.join(folder, name))
    return modules


INLINE_MOD = re.compile(r"\bmod\s+[a-z_][a-z0-9_]*\s*\{")
PATH = re.compile(r"(?<![A-Za-z0-9_:])((?:crate|super|self)(?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)")
USE = re.compile(r"\buse\s+([^;]+);")


def inline_depths(code):
    """For each position of the code, how many inline modules (`mod x { … }`) enclose it."""
    depth = [0] * (len(code) + 1)
    for found in INLINE_MOD.finditer(code):
        level, k = 0, found.end() - 1
        while k < len(code):
            if code[k] == "{":
                level += 1
            elif code[k] == "}":
                level -= 1
                if level == 0:
                    break
            k += 1
        for position in range(found.end(), k):
            depth[position] += 1
    return depth


def resolve(key, path, inline, modules):
    """The module a path names, seen from the file of module `key` at `inline` levels of inline modules;
    None when it names the file's own module (or one of its inline modules) or nothing known."""
    segments = [s for s in re.sub(r"\s+", "", path).split("::") if s]
    base = list(key)
    while segments and segments[0] in ("crate", "super", "self"):
        head = segments.pop(0)
        if head == "crate":
            base, inline = [], 0
        elif head == "super":
            if inline:
                inline -= 1
            else:
                base = base[:-1]
    if inline:
        return None
    target = tuple(base)
    for segment in segments:
        if target + (segment,) in modules:
            target = target + (segment,)
        else:
            break
    return target if target != key and target in modules else None


def edges_of(key, code, modules):
    """The modules (other than its own) that the module `key`'s code imports."""
    depth = inline_depths(code)
    paths = []
    for found in USE.finditer(code):
        for path in use_paths(re.sub(r"\s+", " ", found.group(1))):
            paths.append((path, depth[found.start()]))
    # Inline paths; inside a `use` tree they name a prefix of what the tree gives, which resolves the same.
    for found in PATH.finditer(code):
        paths.append((found.group(1), depth[found.start()]))
    edges = set()
    for path, inline in paths:
        if re.sub(r"\s+", "", path).split("::")[0] not in ("crate", "super", "self"):
            continue
        target = resolve(key, path, inline, modules)
        if target is not None:
            edges.add(target)
    return edges


def circles(crate_src):
    modules = module_files(crate_src)
    graph = {}
    for key, file in modules.items():
        with open(file, encoding="utf-8") as handle:
            graph[key] = edges_of(key, strip(handle.read()), modules)
    # Tarjan's strongly connected components.
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(modules[m] for m in component))

    sys.setrecursionlimit(10000)
    for node in graph:
        if node not in index:
            visit(node)
    return found, len(modules)


def crates(root):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        if "Cargo.toml" in files and os.path.isdir(os.path.join(folder, "src")):
            yield os.path.join(folder, "src")


def check(root):
    total, modules = [], 0
    for src in sorted(crates(root)):
        found, count = circles(src)
        modules += count
        total.extend(found)
    for component in total:
        print("circle: " + " <-> ".join(os.path.relpath(f, root) for f in component))
    return total, modules


def self_test():
    """A crate with a circle (through a use tree and an inline path) and one without."""
    with tempfile.TemporaryDirectory() as root:
        src = os.path.join(root, "c", "src")
        os.makedirs(os.path.join(src, "store"))
        open(os.path.join(root, "c", "Cargo.toml"), "w").close()
        files = {
            "lib.rs": "mod store;\nmod metrics;\n// use crate::metrics; a comment is no edge\n",
            "store/mod.rs": "mod sql;\npub use self::sql::Query;\nfn f() { crate::metrics::count(); }\n",
            "store/sql.rs": 'pub struct Query;\nconst S: &str = "crate::metrics::x";\nmod tests { use super::*; }\n',
            "metrics.rs": "use crate::{store::{Query}, other};\nmod tests { use super::*; }\n",
        }
        for name, text in files.items():
            with open(os.path.join(src, name), "w") as handle:
                handle.write(text)
        found, _ = circles(src)
        names = [sorted(os.path.relpath(f, src) for f in c) for c in found]
        assert names == [["metrics.rs", "store/mod.rs"]], names
        with open(os.path.join(src, "metrics.rs"), "w") as handle:
            handle.write("/* use crate::store::Query; */ pub fn count() {}\n")
        assert circles(src)[0] == [], "a comment made an edge"
        with open(os.path.join(src, "metrics.rs"), "w") as handle:
            handle.write("/// Counts what [`crate::store::Query`] finds.\npub fn count() {}\n")
        assert len(circles(src)[0]) == 1, "an intra-doc link made no edge"
    print("module-circles: self-test passed")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    found, modules = check(os.path.abspath(root))
    if found:
        print(f"module-circles: {len(found)} circle(s) among {modules} modules", file=sys.stderr)
        return 1
    print(f"module-circles: no circle among {modules} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
