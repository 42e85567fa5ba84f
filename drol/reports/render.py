"""Renderers: a Document (documents.py) as Markdown, LaTeX (booktabs) or a self-contained HTML page."""

from __future__ import annotations

import html

from drol.reports.documents import Cell, Column, Document
from drol.reports.model import NoteTable


def render_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    if doc.label:
        out += [f"> **{doc.label}**", ""]
    for para in doc.intro:
        out += [para, ""]
    if doc.legend:
        (bold, bold_text), (under, under_text) = doc.legend
        out += [f"**{bold}**{bold_text}<ins>**{under}**</ins>{under_text}", ""]
    for title, rows in doc.blocks:
        out += [f"## {title}", "", *_md_table([c.full for c in doc.columns], [[_md_cell(c) for c in r] for r in rows],
                                               [c.align for c in doc.columns]), ""]
    if not doc.blocks:
        out += ["(no rows)", ""]
    if doc.notes:
        out += ["## Notes", "", *_notes(
            doc.notes, heading=lambda h: [f"### {h}", ""], end=[""],
            table=lambda t: ["", *_md_table(t.header, t.rows, ["l"] * len(t.header)), ""],
            sublist=lambda items: [f"  - {sub}" for sub in items], item=lambda text: [f"- {text}"])]
    return "\n".join(out).rstrip("\n") + "\n"


def _notes(notes: list[tuple[str, list]], heading, table, sublist, item, end: list[str]) -> list[str]:
    """The notes' lines: per (heading, items) the heading's lines, each item's (a NoteTable, a list of
    sub-items or a text), then `end`."""
    out: list[str] = []
    for title, items in notes:
        out += heading(title)
        for entry in items:
            out += table(entry) if isinstance(entry, NoteTable) else sublist(entry) if isinstance(entry, list) \
                else item(entry)
        out += end
    return out


def _md_cell(cell: Cell) -> str:
    """Bold as **...**; underlined as <ins>...</ins>, which GitHub and most Markdown renderers show underlined."""
    main = cell.main
    if cell.bold:
        main = f"**{main}**"
    if cell.underline:
        main = f"<ins>{main}</ins>"
    return (main + cell.rest).replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    widths = [max(w, 3) for w in widths]

    def line(values):
        return "| " + " | ".join(str(v).ljust(w) if a == "l" else str(v).rjust(w)
                                 for v, w, a in zip(values, widths, align)) + " |"

    rule = "|" + "|".join((":" + "-" * (w + 1)) if a == "l" else ("-" * (w + 1) + ":")
                          for w, a in zip(widths, align)) + "|"
    return [line(header), rule, *(line(r) for r in rows)]


_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "±": r"$\pm$", "–": "--", "Δ": r"$\Delta$",
        "α": r"$\alpha$", "×": r"$\times$", "≥": r"$\geq$", "†": r"$^\dagger$", "‡": r"$^\ddagger$", '"': "''",
        "τ": r"$\tau$",
        "<": r"\textless{}", ">": r"\textgreater{}"}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def _tex_cell(cell: Cell) -> str:
    main = _tex(cell.main)
    if main[:1] in "+-" and main[1:2].isdigit():
        main = f"${main[0]}${main[1:]}"
    if cell.bold:
        main = f"\\textbf{{{main}}}"
    if cell.underline:
        main = f"\\underline{{{main}}}"
    return main + _tex(cell.rest)


def render_latex(doc: Document) -> str:
    ncol = len(doc.columns)
    out = [f"% {doc.title}", "% Written by drol.reports.tables from results.duckdb; needs \\usepackage{booktabs} and "
           "\\usepackage{graphicx}."]
    if doc.label:
        out.append(f"% {doc.label}")
    out += ["\\begin{table*}[p]", "\\centering", "\\small"]
    if doc.label:
        out += [f"\\fbox{{\\parbox{{0.95\\textwidth}}{{\\centering\\textbf{{{_tex(doc.label)}}}}}}}\\par\\medskip"]
    caption = f"{_tex(doc.title)}. {_tex(doc.intro[0]) if doc.intro else ''}"
    if doc.legend:
        (bold, bold_text), (under, under_text) = doc.legend
        caption += (f" \\textbf{{{bold}}}{_tex(bold_text)}\\protect\\underline{{\\textbf{{{under}}}}}"
                    f"{_tex(under_text)}")
    out.append(f"\\caption{{{caption}}}")
    out += ["\\resizebox{\\textwidth}{!}{%", "\\begin{tabular}{" + "".join(c.align for c in doc.columns) + "}",
            "\\toprule"]
    groups = _groups(doc.columns)
    if any(g for g, _, _ in groups):
        out.append(" & ".join(f"\\multicolumn{{{n}}}{{c}}{{{_tex(g)}}}" if g else (" & ".join([""] * n))
                              for g, start, n in groups) + " \\\\")
        out.append(" ".join(f"\\cmidrule(lr){{{start + 1}-{start + n}}}" for g, start, n in groups if g))
    out.append(" & ".join(_tex(c.name) for c in doc.columns) + " \\\\")
    out.append("\\midrule")
    for i, (title, rows) in enumerate(doc.blocks):
        if i:
            out.append("\\midrule")
        out.append(f"\\multicolumn{{{ncol}}}{{l}}{{\\textit{{{_tex(title)}}}}} \\\\")
        out += [" & ".join(_tex_cell(c) for c in row) + " \\\\" for row in rows]
    out += ["\\bottomrule", "\\end{tabular}}", "\\end{table*}"]
    if doc.intro[1:]:
        out += ["", *(_tex(p) + "\n" for p in doc.intro[1:])]
    if doc.notes:
        out += ["", "\\paragraph{Notes.}", *_notes(
            doc.notes, heading=lambda h: [f"\\subparagraph{{{_tex(h)}}}", "\\begin{itemize}"], end=["\\end{itemize}"],
            table=lambda t: ["\\item[]", "\\begin{tabular}{" + "l" * len(t.header) + "}", "\\toprule",
                             " & ".join(_tex(h) for h in t.header) + " \\\\", "\\midrule",
                             *(" & ".join(_tex(v) for v in r) + " \\\\" for r in t.rows), "\\bottomrule",
                             "\\end{tabular}"],
            sublist=lambda items: ["\\begin{itemize}", *(f"\\item {_tex(sub)}" for sub in items), "\\end{itemize}"],
            item=lambda text: [f"\\item {_tex(text)}"])]
    return "\n".join(out) + "\n"


def _groups(columns: list[Column]) -> list[tuple[str, int, int]]:
    groups: list[tuple[str, int, int]] = []
    for i, c in enumerate(columns):
        if groups and groups[-1][0] == c.group:
            g, start, n = groups[-1]
            groups[-1] = (g, start, n + 1)
        else:
            groups.append((c.group, i, 1))
    return groups


_CSS = """body { font-family: system-ui, sans-serif; margin: 1.5em; color: #111; }
.label { border: 2px solid #b00; background: #fff3f3; padding: .5em .8em; font-weight: bold; display: inline-block; }
table { border-collapse: collapse; font-size: 13px; margin: .5em 0 1em; }
th, td { padding: 2px 7px; white-space: nowrap; }
thead th { border-bottom: 1px solid #000; }
table.scores { border-top: 2px solid #000; border-bottom: 2px solid #000; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.l, th.l { text-align: left; }
td.ours { background: #eef4ff; }
tr.group td { font-style: italic; border-top: 1px solid #888; padding-top: 6px; }
p, li { max-width: 70em; }"""


def _html_cell(cell: Cell) -> str:
    main = html.escape(cell.main)
    if cell.bold:
        main = f"<b>{main}</b>"
    if cell.underline:
        main = f"<u>{main}</u>"
    return main + html.escape(cell.rest)


def render_html(doc: Document) -> str:
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{esc(doc.title)}</title>",
           f"<style>\n{_CSS}\n</style>", "</head>", "<body>"]
    if doc.label:
        out.append(f'<p class="label">{esc(doc.label)}</p>')
    out.append(f"<h1>{esc(doc.title)}</h1>")
    out += [f"<p>{esc(p)}</p>" for p in doc.intro]
    if doc.legend:
        (bold, bold_text), (under, under_text) = doc.legend
        out.append(f"<p><b>{bold}</b>{esc(bold_text)}<u><b>{under}</b></u>{esc(under_text)}</p>")
    out += ['<table class="scores">', "<thead>"]
    groups = _groups(doc.columns)
    if any(g for g, _, _ in groups):
        out.append("<tr>" + "".join(f'<th colspan="{n}">{esc(g)}</th>' if g else "<th></th>" * n
                                    for g, _, n in groups) + "</tr>")
    out.append("<tr>" + "".join(f'<th class="{c.align}">{esc(c.name)}</th>' for c in doc.columns) + "</tr>")
    out.append("</thead>")
    for title, rows in doc.blocks:
        out.append("<tbody>")
        out.append(f'<tr class="group"><td colspan="{len(doc.columns)}">{esc(title)}</td></tr>')
        for row in rows:
            out.append("<tr>" + "".join(f'<td class="{c.align}{" ours" if c.name == "ours" else ""}">'
                                        f"{_html_cell(v)}</td>" for c, v in zip(doc.columns, row)) + "</tr>")
        out.append("</tbody>")
    out.append("</table>")
    if doc.notes:
        out.append("<h2>Notes</h2>")
        for heading, items in doc.notes:
            out += [f"<h3>{esc(heading)}</h3>", "<ul>"]
            for i, item in enumerate(items):
                following = items[i + 1] if i + 1 < len(items) else None
                if isinstance(item, list):
                    continue  # written inside the item before it
                sub = ("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in following) + "</ul>"
                       if isinstance(following, list) else "")
                if isinstance(item, NoteTable):
                    out += ["<li><table>", "<thead><tr>" + "".join(f'<th class="l">{esc(h)}</th>' for h in item.header)
                            + "</tr></thead>", "<tbody>",
                            *("<tr>" + "".join(f'<td class="l">{esc(v)}</td>' for v in r) + "</tr>" for r in item.rows),
                            "</tbody></table></li>"]
                else:
                    out.append(f"<li>{esc(item)}{sub}</li>")
            out.append("</ul>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"

