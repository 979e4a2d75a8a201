#!/usr/bin/env python3
"""The Chinese documents keep in step with the English ones: the same
headings (count and levels, in order) and the same fenced code blocks
(language and text, in order) in each pair. Headings inside code blocks do
not count. Prints the first difference of each pair."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAIRS = [("README.md", "README_zh.md"), ("docs/deployment.md", "docs/zh/deployment.md")]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


def structure(path):
    text = (ROOT / path).read_text()
    blocks = [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer(text)]
    prose = FENCE.sub("", text)
    headings = [(len(m.group(1)), m.group(2).strip())
                for m in re.finditer(r"^(#{1,6}) (.*)$", prose, re.M)]
    return headings, blocks


def main():
    errors = []
    for en, zh in PAIRS:
        if not (ROOT / zh).exists():
            errors.append(f"{zh} is missing (the Chinese {en})")
            continue
        before = len(errors)
        (en_h, en_b), (zh_h, zh_b) = structure(en), structure(zh)
        if [lvl for lvl, _ in en_h] != [lvl for lvl, _ in zh_h]:
            for i, (a, b) in enumerate(zip(en_h + [None] * len(zh_h), zh_h + [None] * len(en_h))):
                if a is None or b is None or a[0] != b[0]:
                    errors.append(f"{zh}: heading {i + 1} is {b} where {en} has {a}")
                    break
        if en_b != zh_b:
            for i, (a, b) in enumerate(zip(en_b + [None] * len(zh_b), zh_b + [None] * len(en_b))):
                if a != b:
                    errors.append(f"{zh}: code block {i + 1} differs from {en}'s:\n"
                                  f"--- {en}\n{a[1] if a else '(none)'}--- {zh}\n{b[1] if b else '(none)'}")
                    break
        if len(errors) == before:
            print(f"check_docs: {en} and {zh}: {len(en_h)} headings, {len(en_b)} code blocks alike")
    for e in errors:
        print(f"check_docs: {e}", file=sys.stderr)
    sys.exit(1 if errors else 0)


main()
