"""Prints a benchmark's JSON results as a Markdown table (for README.md).

    python benchmarks/markdown_table.py benchmarks/results/wta_hash.json [--columns a b c]
"""
import argparse
import json


def markdown_table(rows, columns):
    """Rows (dicts) as Markdown table lines; "-" where a row lacks a column."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [row.get(c) for c in columns]
        lines.append("| " + " | ".join("-" if v is None else f"{v:,}" if isinstance(v, int)
                                       else str(v) for v in cells) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--columns", nargs="+")
    args = parser.parse_args()
    with open(args.results) as f:
        rows = json.load(f)["rows"]
    print("\n".join(markdown_table(rows, args.columns or list(rows[0]))))


if __name__ == "__main__":
    main()
