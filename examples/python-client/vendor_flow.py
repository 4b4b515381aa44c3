"""A vendor's first day with nonstop, through a client generated from openapi/openapi.json.

Registers a family expecting a child (and retries it with its Idempotency-Key), mints the parent's session, registers a Web Push device,
records the birth, reads the tasks and the planned reminders, then opens the 児童手当 (child
allowance) draft, corrects a field (If-Match the version read) and confirms it. Every call goes through the generated
client (`nonstop_client`, made by `./generate`), so a change of the document that would break
a vendor's client breaks this script.

    NONSTOP_URL=http://127.0.0.1:8080 NONSTOP_API_KEY=nsk_app_… python vendor_flow.py

The dates are those of a family whose baby is due on 2027-03-10 and born on 2027-03-08: run it
against a nonstop whose clock stands a day after the birth (`clock.start_at`, as CI does).
Prints the ids it made, as one JSON object, for whoever wants to go on from there.

With `EVENT_RECEIVER=1` (CI sets it, with `webhooks.allowed_hosts = ["127.0.0.1"]`), the vendor's
backend first listens for events on a loopback port and registers it as the app's webhook; the
flow then waits for the events the family's day made, checks each one's signature as the
document says, and reads the delivery log.
"""

import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time
import uuid

from nonstop_client import AuthenticatedClient
from nonstop_client.api.devices import register_device
from nonstop_client.api.drafts import confirm_draft, get_draft, list_drafts, update_draft
from nonstop_client.api.events import list_app_event_deliveries, update_app_webhook
from nonstop_client.api.families import create_family
from nonstop_client.api.life_events import record_life_event
from nonstop_client.api.sessions import create_session
from nonstop_client.api.tasks import list_planned_notifications, list_tasks
from nonstop_client.models import (
    AppEventKind,
    AppWebhookInput,
    BirthEventInput,
    BirthEventInputType,
    ChildInput,
    ChildStatus,
    ConsentPurpose,
    DraftPatch,
    DraftPatchValues,
    DraftStatus,
    ErrorBody,
    FamilyInput,
    GuardianInput,
    HealthInsurance,
    QuietHours,
    Relationship,
    SessionInput,
    WebPushDeviceInput,
    WebPushDeviceInputKind,
    WebPushKeys,
)

DUE = datetime.date(2027, 3, 10)
BORN = datetime.date(2027, 3, 8)


def expect(result, what):
    """The typed result, or stop with the API's own error (its code, message and fields)."""
    if result is None or isinstance(result, ErrorBody):
        detail = result.to_dict() if isinstance(result, ErrorBody) else "no body"
        sys.exit(f"{what} failed: {json.dumps(detail, ensure_ascii=False)}")
    return result


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Receiver(http.server.ThreadingHTTPServer):
    """The vendor's backend, receiving events on a loopback port: keeps each request's headers
    and raw body, and answers 204."""

    def __init__(self):
        self.received = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/events"


def verified(headers, body, secret):
    """The event, once its signature holds: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
    keyed with the whole `whsec_…` string, within 5 minutes of the instant given."""
    signature = {k.lower(): v for k, v in headers.items()}["nonstop-signature"]
    parts = dict(part.split("=", 1) for part in signature.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts["v1"]):
        sys.exit(f"an event's signature does not hold: {signature}")
    if abs(time.time() - int(parts["t"])) > 300:
        sys.exit(f"an event signed at {parts['t']} is outside the replay window")
    return json.loads(body)


def main() -> None:
    base_url = os.environ.get("NONSTOP_URL", "http://127.0.0.1:8080")
    vendor = AuthenticatedClient(base_url=base_url, token=os.environ["NONSTOP_API_KEY"])

    # 0. Events instead of polling: the vendor's backend registers its webhook for the kinds it
    # wants; the secret is shown this once.
    receiver, secret = None, None
    if os.environ.get("EVENT_RECEIVER"):
        receiver = Receiver()
        kinds = [AppEventKind.TASKS_CHANGED, AppEventKind.DRAFT_OPENED, AppEventKind.INBOX_ENTRY_ARRIVED]
        hook = expect(
            update_app_webhook.sync(client=vendor, body=AppWebhookInput(url=receiver.url, kinds=kinds)),
            "registering the app's webhook",
        )
        secret = hook.secret

    # 1. The vendor registers a family with an expected child. The phone may lose the answer:
    # with an Idempotency-Key, the retry below gets the first answer again, not a second family.
    attempt = str(uuid.uuid4())
    registration = FamilyInput(
        municipality_code="131016",
        postal_code="100-0001",
        address="千代田1-1-1",
        preferred_language="ja",
        health_insurance=HealthInsurance.NATIONAL,
        quiet_hours=QuietHours(start="21:00", end="08:00"),
        guardians=[
            GuardianInput(
                relationship=Relationship.MOTHER,
                full_name="山田 花子",
                full_name_kana="ヤマダ ハナコ",
                birth_date=datetime.date(1994, 5, 6),
            )
        ],
        children=[ChildInput(status=ChildStatus.EXPECTED, due_date=DUE)],
        # The parent agreed in the app that nonstop keeps the baby's birth weight.
        consents=[ConsentPurpose.HEALTH_INFORMATION],
    )
    family = expect(
        create_family.sync(client=vendor, body=registration, idempotency_key=attempt), "registering the family"
    )
    retried = create_family.sync_detailed(client=vendor, body=registration, idempotency_key=attempt)
    retried_family = expect(retried.parsed, "retrying the registration")
    if retried_family.id != family.id or retried.headers.get("idempotent-replayed") != "true":
        sys.exit(f"the retry made family {retried_family.id}, not the first answer again ({family.id})")
    child = family.children[0]

    # 2. The vendor's backend mints a short-lived session for the parent's app.
    session = expect(
        create_session.sync(family.id, client=vendor, body=SessionInput(ttl_seconds=3600)),
        "minting a session",
    )
    parent = AuthenticatedClient(base_url=base_url, token=session.token)

    # 3. The app registers its Web Push subscription (keys as PushSubscription.toJSON() gives them).
    p256dh = b"\x04" + bytes(range(1, 65))  # an uncompressed P-256 point's length and prefix
    device = expect(
        register_device.sync(
            family.id,
            client=parent,
            body=WebPushDeviceInput(
                kind=WebPushDeviceInputKind.WEB_PUSH,
                endpoint="https://fcm.googleapis.com/fcm/send/example-subscription",
                keys=WebPushKeys(p256dh=b64url(p256dh), auth=b64url(bytes(16))),
            ),
        ),
        "registering the device",
    )

    # 4. The baby is born.
    event = expect(
        record_life_event.sync(
            family.id,
            client=parent,
            body=BirthEventInput(
                type_=BirthEventInputType.BIRTH, date=BORN, child_id=child.id, birth_weight_grams=2980
            ),
        ),
        "recording the birth",
    )

    # 5. What the family must do now, and the reminders nonstop will send.
    tasks = expect(list_tasks.sync(family.id, client=parent), "reading the tasks")
    planned = expect(list_planned_notifications.sync(family.id, client=parent), "reading the planned reminders")
    procedures = {task.procedure_id for task in tasks}
    for needed in ("birth_registration", "child_allowance_claim"):
        if needed not in procedures:
            sys.exit(f"the birth planned no {needed} task (planned: {sorted(procedures)})")
    if not planned:
        sys.exit("the birth planned no reminder")

    # 6. The 児童手当 draft: pre-filled from the profile; the parent fills in the baby's
    # name, corrects the phone number and the consents, and confirms.
    drafts = expect(list_drafts.sync(family.id, client=parent), "listing the drafts")
    allowance = next((d for d in drafts if d.form_id == "child_allowance_claim"), None)
    if allowance is None:
        sys.exit(f"no 児童手当 draft among {[d.form_id for d in drafts]}")
    opened = get_draft.sync_detailed(family.id, allowance.id, client=parent)
    draft = expect(opened.parsed, "opening the draft")
    # If-Match: should the vendor's backend have changed the draft since, the correction is
    # refused (412) instead of overwriting what the parent did not see.
    version = opened.headers["etag"]
    values = DraftPatchValues.from_dict(
        {
            "child.name": "山田 太郎",
            "child.kana": "ヤマダ タロウ",
            "applicant.phone": "090-1234-5678",
            "consent.public_records": True,
            "payment.use_public_account": True,
            # Registered with one guardian and nothing said of a marriage: nonstop does not
            # guess a spouse away, the parent answers.
            "spouse.exists": False,
        }
    )
    draft = expect(
        update_draft.sync(family.id, draft.id, client=parent, body=DraftPatch(values=values), if_match=version),
        "correcting the draft",
    )
    if draft.to_fill:
        sys.exit(f"the draft still lacks {draft.to_fill}")
    confirmed = expect(confirm_draft.sync(family.id, draft.id, client=parent), "confirming the draft")
    if confirmed.status != DraftStatus.CONFIRMED:
        sys.exit(f"the draft is {confirmed.status}, not confirmed")

    # 7. The events the day made: the plan changed and a draft opened, for this family, each
    # signed; the delivery log says they were delivered.
    events = []
    if receiver is not None:
        deadline, kinds, delivered = time.time() + 90, set(), set()
        while time.time() < deadline:
            events = [verified(headers, body, secret) for headers, body in list(receiver.received)]
            kinds = {e["type"] for e in events if e["family_id"] == family.id}
            log = expect(list_app_event_deliveries.sync(client=vendor, limit=100), "reading the delivery log")
            delivered = {d.id for d in log.items if d.status.value == "delivered"}
            if {"tasks.changed", "draft.opened"} <= kinds and {e["id"] for e in events} <= delivered:
                break
            time.sleep(0.5)
        else:
            sys.exit(f"the events did not all arrive, or the log does not show them delivered: {kinds}, {delivered}")

    print(
        json.dumps(
            {
                "family_id": family.id,
                "child_id": child.id,
                "guardian_id": family.guardians[0].id,
                "device_id": device.id,
                "event_id": event.id,
                "task_id": tasks[0].id,
                "draft_id": confirmed.id,
                "tasks": len(tasks),
                "planned_notifications": len(planned),
                "events": len(events),
            }
        )
    )


if __name__ == "__main__":
    main()
