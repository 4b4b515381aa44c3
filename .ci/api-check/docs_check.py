"""Checks the /docs page as a browser rendered it (chromium --dump-dom): every example the
document carries is shown, and descriptions are rendered Markdown, not raw marks.

Usage: docs_check.py rendered.html openapi.json
"""

import json
import re
import sys

rendered = open(sys.argv[1], encoding="utf-8").read()
document = json.load(open(sys.argv[2], encoding="utf-8"))

expected = 0
for item in document["paths"].values():
    for operation in item.values():
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        expected += "example" in body
        for response in operation["responses"].values():
            expected += "example" in response.get("content", {}).get("application/json", {})
shown = len(re.findall(r"Example (?:request|response \d+) \(from the tests\)</summary>", rendered))
problems = []
if shown != expected:
    problems.append(f"{shown} examples shown, the document has {expected}")
descriptions = re.findall(r'<div class="md">(.*?)</div>', rendered, flags=re.S)
if not any("<code>" in d for d in descriptions):
    problems.append("no description shows `code` as code")
raw = [d for d in descriptions if re.search(r"`[^`<]+`|\*\*[^*<]+\*\*", re.sub(r"<pre>.*?</pre>", "", d, flags=re.S))]
if raw:
    problems.append(f"{len(raw)} descriptions still show Markdown marks, e.g. {raw[0][:120]!r}")
if problems:
    sys.exit("/docs: " + "; ".join(problems))
print(f"/docs: {shown} examples shown, {len(descriptions)} descriptions rendered")
