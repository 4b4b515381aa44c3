"""Picks one example call per documented operation from the calls the tests recorded.

Usage: pick_examples.py CALLS_FOLDER openapi.json > examples.json

For each operation (by operationId): a call that succeeded (2xx), preferring the richest
request and then the shortest response, so that examples stay the same from run to run as far
as the tests allow. Secrets (API keys, session tokens, webhook secrets) are replaced by
placeholders of their shape, and long lists are cut to two items.
"""

import json
import pathlib
import re
import sys

SECRET_FIELDS = {"api_key", "token", "secret"}


def templates(document):
    """(method, compiled path pattern, literal parts, operationId), most specific first."""
    found = []
    for path, item in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        for method, operation in item.items():
            found.append((method.upper(), pattern, path.count("{"), operation["operationId"]))
    return sorted(found, key=lambda t: t[2])


def placeholder(value):
    match = re.match(r"^(nsk_app_|nsk_staff_|nsp_|whsec_)?", value)
    return (match.group(1) or "") + "…"


def tidy(value):
    if isinstance(value, list):
        return [tidy(v) for v in value[:2]]
    if isinstance(value, dict):
        return {k: placeholder(v) if k in SECRET_FIELDS and isinstance(v, str) else tidy(v) for k, v in value.items()}
    return value


def main():
    folder, document_path = sys.argv[1], sys.argv[2]
    document = json.load(open(document_path))
    routes = templates(document)
    best = {}
    for file in sorted(pathlib.Path(folder).glob("*.json")):
        call = json.loads(file.read_text())
        if not 200 <= call["status"] < 300:
            continue
        operation = next((op for m, p, _, op in routes if m == call["method"] and p.match(call["path"])), None)
        if operation is None:
            continue
        request = json.dumps(call["request"], ensure_ascii=False) if call["request"] is not None else ""
        response = json.dumps(call["response"], ensure_ascii=False)
        rank = (-len(request), len(response), request, response)
        if operation not in best or rank < best[operation][0]:
            best[operation] = (rank, call)
    examples = {}
    for operation, (_, call) in sorted(best.items()):
        example = {"status": call["status"]}
        if call["request"] is not None:
            example["request"] = tidy(call["request"])
        if call["response"] is not None:
            example["response"] = tidy(call["response"])
        examples[operation] = example
    json.dump(examples, sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")


main()
