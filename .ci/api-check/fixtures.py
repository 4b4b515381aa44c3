"""Records for the schema fuzzer to work on, so that its requests reach past 404.

Reads the ids the vendor flow printed (examples/python-client/vendor_flow.py) on stdin and
adds what a vendor flow does not make: a second app key (for the fuzzer to revoke), a notice
written by one member of staff, approved by another and sent (an inbox entry for the family),
and a spare staff key. Prints `NAME=value` lines for schemathesis.toml.
"""

import json
import os
import sys
import urllib.request

BASE = os.environ["NONSTOP_URL"]


def call(method, path, key, body=None):
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def main():
    made = json.load(sys.stdin)
    family = made["family_id"]
    vendor, author, approver = (os.environ[k] for k in ("VENDOR_KEY", "AUTHOR_KEY", "APPROVER_KEY"))
    code = os.environ["MUNICIPALITY_CODE"]

    spare_key = call("POST", "/v1/app/keys", vendor)["key_id"]
    drafts = call("GET", f"/v1/families/{family}/drafts", vendor)
    bundle = next(d["bundle_id"] for d in drafts if d.get("bundle_id"))
    open_draft = next(d["id"] for d in drafts if d["status"] == "open")

    notice = call(
        "POST",
        f"/v1/municipalities/{code}/notices",
        author,
        {
            "category": "checkup",
            "texts": {"ja": {"title": "新生児訪問のご案内", "body": "保健師がご自宅に伺います。"}},
            "questionnaire": {"question": "訪問を希望しますか", "kind": "single", "choices": ["希望する", "希望しない"]},
        },
    )["id"]
    call("POST", f"/v1/municipalities/{code}/notices/{notice}/approve", approver)
    call("POST", f"/v1/municipalities/{code}/notices/{notice}/send", author)
    inbox = call("GET", f"/v1/families/{family}/inbox", vendor)["items"]
    if not inbox:
        sys.exit("the sent notice reached no inbox")

    ids = {
        "FAMILY_ID": family,
        "CHILD_ID": made["child_id"],
        "GUARDIAN_ID": made["guardian_id"],
        "DEVICE_ID": made["device_id"],
        "TASK_ID": made["task_id"],
        "DRAFT_ID": open_draft,
        "BUNDLE_ID": bundle,
        "ENTRY_ID": inbox[0]["id"],
        "NOTICE_ID": notice,
        "KEY_ID": spare_key,
    }
    for name, value in ids.items():
        print(f"{name}={value}")


if __name__ == "__main__":
    main()
