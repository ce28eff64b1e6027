"""`make review`: what a pull request's reviewer reads for each revision it adds.

For every revision after `FROM` (or, without it, every revision the base branch does not
have), both directions: the message and docstring, the SQL it runs, the lint findings
(Squawk's help and the safe form filled in with the revision's names; those the lock
trace overruled, with why), and the lock trace (per statement: the locks with their
modes and what they block, the relations rewritten, the tables read in full) with the
gate's findings. As Markdown for a pull-request comment, or one JSON document
(`REVIEW_FORMAT=json`).

The base branch, when `FROM` is not given: the merge base of `HEAD` with the first of
`origin/$GITHUB_BASE_REF`, `origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME`, `origin/main`,
`main` that exists; its revisions are the files it has in `migrations/versions/`. With no
git checkout or none of those refs, every revision is reviewed, and the output says so.
"""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from alembic.script import Script
from sqlalchemy.engine import URL

from dbtools import devserver
from dbtools.core.chain import revisions
from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT
from dbtools.core.settings import Env
from dbtools.review import lint, revision_trace
from dbtools.review.revision_sql import DIRECTIONS, render

FORMATS = ("markdown", "json")
VERSIONS_DIR = "migrations/versions"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def base_refs(env: Env) -> list[str]:
    refs = [
        f"origin/{env[name]}"
        for name in ("GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
        if env.get(name)
    ]
    return [*refs, "origin/main", "main"]


def new_revisions(env: Env, from_rev: str) -> tuple[str, list[Script]]:
    """What the review covers and why: the revisions after `from_rev`, or those the base
    branch lacks."""
    chain = revisions()
    if from_rev:
        ids = [s.revision for s in chain]
        matches = [i for i, rev in enumerate(ids) if rev.startswith(from_rev)]
        if from_rev == "base":
            return "after base (every revision)", chain
        if len(matches) != 1:
            raise UserError(
                f"FROM={from_rev} names no single revision of the chain; `make history` lists them"
            )
        return f"after FROM={ids[matches[0]]}", chain[matches[0] + 1 :]
    for ref in base_refs(env):
        if _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is None:
            continue
        base = _git("merge-base", "HEAD", ref)
        listed = _git("ls-tree", "-r", "--name-only", base, "--", VERSIONS_DIR) if base else None
        if listed is None:
            continue
        known = set(listed.splitlines())
        new = [s for s in chain if _relative(s) not in known]
        return f"not on the base branch {ref} (merge base {base[:12]})", new
    return "every revision (no git checkout, or no origin/main or main to compare with)", chain


def _relative(script: Script) -> str:
    return Path(script.path).resolve().relative_to(REPO_ROOT.resolve()).as_posix()


def review(env: Env, from_rev: str = "") -> dict[str, Any]:
    """The review as data: what it covers, then per revision and direction."""
    covers, scripts = new_revisions(env, from_rev)
    server = devserver.database_url(env)
    return {"covers": covers, "revisions": [revision_review(s, server) for s in scripts]}


def revision_review(script: Script, server: URL) -> dict[str, Any]:
    traced = revision_trace.as_data(script, revision_trace.trace_revision(script, server))
    lines = lint.squawk_lines([script])
    data: dict[str, Any] = {
        "revision": script.revision,
        "file": _relative(script),
        "message": traced["message"],
        "docstring": (script.module.__doc__ or "").strip(),
    }
    for direction in DIRECTIONS:
        mine = [line for line in lines if f".{direction}.sql" in line.split(":", 1)[0]]
        data[direction] = {
            "sql": render(script, direction),
            "lint": [_finding(line) for line in mine if not line.startswith(lint.OVERRULED)],
            "overruled": [
                _finding(line.removeprefix(lint.OVERRULED))
                for line in mine
                if line.startswith(lint.OVERRULED)
            ],
            **traced[direction],
        }
    return data


_LINE = re.compile(r"^(?P<where>[^ ]+?:\d+(?::\d+)?): (?:warning: (?P<rule>\S+) )?(?P<rest>.*)$")
_PART = re.compile(r" \[(help|safe form|trace): (.*?)\](?= \[|$)")


def _finding(line: str) -> dict[str, str]:
    """A lint line as its parts: where, rule, message, help, safe form, trace."""
    match = _LINE.match(line)
    if match is None:
        return {"where": "", "rule": "", "message": line}
    rest = match["rest"]
    parts = dict(_PART.findall(rest))
    message = _PART.sub("", rest)
    found = {"where": match["where"], "rule": match["rule"] or "", "message": message}
    return {**found, **{k.replace(" ", "_"): v for k, v in parts.items()}}


def markdown(data: dict[str, Any]) -> str:
    revisions_ = data["revisions"]
    out = [
        f"# Migration review: {len(revisions_)} revision(s)",
        "",
        f"Covers {data['covers']}.",
        "",
    ]
    if not revisions_:
        out.append("No new revisions.")
    for item in revisions_:
        out += [f"## `{item['revision']}`: {item['message']}", "", f"`{item['file']}`", ""]
        out += ["```text", item["docstring"], "```", ""]
        for direction in DIRECTIONS:
            out += _direction_markdown(direction, item[direction])
    return "\n".join(out).rstrip() + "\n"


def _direction_markdown(direction: str, data: dict[str, Any]) -> list[str]:
    verdict = (
        "blocks writes to a table in use"
        if data["blocks_writes"]
        else "blocks no writes to a table in use"
    )
    out = [f"### {direction.title()}: {verdict}", ""]
    out += [
        "<details><summary>SQL</summary>",
        "",
        "```sql",
        data["sql"].rstrip(),
        "```",
        "",
        "</details>",
        "",
    ]
    out += ["**Lint**", ""]
    out += [_lint_markdown(f) for f in data["lint"]] or ["- nothing found"]
    out += [_lint_markdown(f, "overruled by the lock trace: ") for f in data["overruled"]]
    out += ["", "**Lock trace**", ""]
    if data["statements"]:
        out += [
            "| # | tx | statement | locks | blocks | rewrites | reads in full |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for number, step in enumerate(data["statements"], start=1):
            tx = (
                str(step["transaction"])
                if step["in_transaction"]
                else f"{step['transaction']} (own)"
            )
            locks = "<br>".join(f"{lock['mode']} on {lock['relation']}" for lock in step["locks"])
            out.append(
                f"| {number} | {tx} | `{_cell(step['sql'])}` | {locks or '-'} | "
                f"{', '.join(step['blocks']) or '-'} | {', '.join(step['rewrites']) or '-'} | "
                f"{', '.join(step['scans']) or '-'} |"
            )
    else:
        out.append("No statement.")
    out.append("")
    for finding in data["findings"]:
        waived = f" (waived: {finding['waived']})" if "waived" in finding else ""
        at = f"statement {finding['statement']}"
        out.append(f"- `{finding['rule']}` at {at}: {finding['message']}{waived}")
    return [*out, ""]


def _lint_markdown(finding: dict[str, str], prefix: str = "") -> str:
    line = f"- {prefix}`{finding['rule']}` ({finding['where']}): {finding['message']}"
    if finding.get("help"):
        line += f" Help: {finding['help']}"
    if finding.get("safe_form"):
        line += f" Safe form: `{finding['safe_form']}`"
    if finding.get("trace"):
        line += f" Trace: {finding['trace']}."
    return line


def _cell(sql: str) -> str:
    shown = sql if len(sql) <= 120 else sql[:117] + "..."
    return shown.replace("|", "\\|").replace("`", "'")


def rendered(env: Env, from_rev: str) -> str:
    """The review in REVIEW_FORMAT (markdown, the default, or json), as text to print."""
    fmt = (env.get("REVIEW_FORMAT") or "markdown").lower()
    if fmt not in FORMATS:
        raise UserError(f"REVIEW_FORMAT={fmt} is not one of {', '.join(FORMATS)}")
    data = review(env, from_rev)
    return json.dumps(data, indent=2) + "\n" if fmt == "json" else markdown(data)
