"""Records for the schema fuzzer to work on, so that its requests reach past 404.

Reads the ids the vendor flow printed (examples/python-client/vendor_flow.py) on stdin and
adds what a vendor flow does not make: a second app key (for the fuzzer to revoke), a notice
written by one member of staff, approved by another and sent (an inbox entry for the family),
and a submission: the confirmed 児童手当 draft signed with a test card (`nonstop-bench card`,
signed here by the openssl command line as a card would sign). Prints `NAME=value` lines for
schemathesis.toml.
"""

import base64
import json
import os
import subprocess
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


def sign(family, draft, key):
    """Signs the confirmed draft's document with the test card; returns the submission's id."""
    card = os.environ["CARD_DIR"]
    document = call("GET", f"/v1/families/{family}/drafts/{draft}", key)["confirmed"]["document"]
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", os.path.join(card, "card-key.pem")],
        input=document.encode(),
        capture_output=True,
        check=True,
    ).stdout
    certificate = open(os.path.join(card, "card.b64")).read().strip()
    body = {"signature": base64.b64encode(signature).decode(), "certificate": certificate}
    signed = call("POST", f"/v1/families/{family}/drafts/{draft}/signature", key, body)
    return signed["submissions"][0]["id"]


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
    # The approver reads the notice and approves exactly what it read, by its digest.
    read = call("GET", f"/v1/municipalities/{code}/notices/{notice}", approver)
    call("POST", f"/v1/municipalities/{code}/notices/{notice}/approve", approver, {"digest": read["content_digest"]})
    call("POST", f"/v1/municipalities/{code}/notices/{notice}/send", author)
    inbox = call("GET", f"/v1/families/{family}/inbox", vendor)["items"]
    if not inbox:
        sys.exit("the sent notice reached no inbox")
    submission = sign(family, made["draft_id"], vendor)
    # A dose recorded for the born child, given on the day of birth (BCG follows nothing).
    born = call("GET", f"/v1/families/{family}", vendor)["children"]
    child = next(c for c in born if c["id"] == made["child_id"])
    vaccination = call(
        "POST",
        f"/v1/families/{family}/children/{child['id']}/vaccinations",
        vendor,
        {"procedure_id": "vaccine_bcg", "given_on": child["birth_date"]},
    )["id"]

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
        "SUBMISSION_ID": submission,
        "VACCINATION_ID": vaccination,
    }
    for name, value in ids.items():
        print(f"{name}={value}")


if __name__ == "__main__":
    main()
