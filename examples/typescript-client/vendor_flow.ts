/**
 * A vendor's first day with nonstop, through a TypeScript client generated from
 * openapi/openapi.json: openapi-typescript writes the types (generated/nonstop.ts, by `./run`),
 * openapi-fetch makes the calls, and `tsc --strict` checks every call and every answer against
 * them. The same flow as ../python-client/vendor_flow.py:
 *
 * registers a family expecting a child (and retries it with its Idempotency-Key: the first
 * answer comes back, marked replayed), mints the parent's session, registers a Web Push device,
 * records the birth, reads the tasks and the planned reminders, then opens the 児童手当 (child
 * allowance) draft, corrects it with If-Match (the ETag read; a write with a stale one is
 * refused with 412) and confirms it.
 *
 *     NONSTOP_URL=http://127.0.0.1:8080 NONSTOP_API_KEY=nsk_app_… node dist/vendor_flow.js
 *
 * Run it against a nonstop whose clock stands a day after the birth it records
 * (`clock.start_at`, as CI does). Prints the ids it made, as one JSON object.
 *
 * No cast and no `any` (no_casts.mjs checks): what the document says is what the code gets.
 */

import { randomUUID } from "node:crypto";

import createClient from "openapi-fetch";

import type { components, paths } from "./generated/nonstop.js";

type Schemas = components["schemas"];

const DUE = "2027-03-10";
const BORN = "2027-03-08";

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

/** The typed answer, or stop with the API's own error (its code, message and fields). */
function expect<T, E>(result: { data?: T; error?: E; response: Response }, what: string): T {
  if (result.data === undefined) {
    fail(`${what} failed (${result.response.status}): ${JSON.stringify(result.error ?? "no body")}`);
  }
  return result.data;
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

async function main(): Promise<void> {
  const baseUrl = process.env["NONSTOP_URL"] ?? "http://127.0.0.1:8080";
  const apiKey = process.env["NONSTOP_API_KEY"] ?? fail("NONSTOP_API_KEY: the vendor app's key");
  const vendor = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });

  // 1. The vendor registers a family with an expected child. The phone may lose the answer:
  // with an Idempotency-Key, the retry below gets the first answer again, not a second family.
  const attempt = randomUUID();
  const registration: Schemas["FamilyInput"] = {
    municipality_code: "131016",
    postal_code: "100-0001",
    address: "千代田1-1-1",
    preferred_language: "ja",
    health_insurance: "national",
    quiet_hours: { start: "21:00", end: "08:00" },
    guardians: [
      { relationship: "mother", full_name: "山田 花子", full_name_kana: "ヤマダ ハナコ", birth_date: "1994-05-06" },
    ],
    children: [{ status: "expected", due_date: DUE }],
    // The parent agreed in the app that nonstop keeps the baby's birth weight.
    consents: ["health_information"],
  };
  const register = () =>
    vendor.POST("/v1/families", { params: { header: { "Idempotency-Key": attempt } }, body: registration });
  const family = expect(await register(), "registering the family");
  const retried = await register();
  const again = expect(retried, "retrying the registration");
  if (again.id !== family.id || retried.response.headers.get("Idempotent-Replayed") !== "true") {
    fail(`the retry made family ${again.id}, not the first answer again (${family.id})`);
  }
  const child = family.children[0] ?? fail("the family was registered without its expected child");
  const familyPath = { family_id: family.id };

  // 2. The vendor's backend mints a short-lived session for the parent's app.
  const session = expect(
    await vendor.POST("/v1/families/{family_id}/sessions", {
      params: { path: familyPath },
      body: { ttl_seconds: 3600 },
    }),
    "minting a session",
  );
  const parent = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${session.token}` } });

  // 3. The app registers its Web Push subscription (keys as PushSubscription.toJSON() gives them).
  const p256dh = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : i)); // an uncompressed P-256 point
  const device = expect(
    await parent.POST("/v1/families/{family_id}/devices", {
      params: { path: familyPath },
      body: {
        kind: "web_push",
        endpoint: "https://fcm.googleapis.com/fcm/send/example-subscription",
        keys: { p256dh: b64url(p256dh), auth: b64url(new Uint8Array(16)) },
      },
    }),
    "registering the device",
  );

  // 4. The baby is born.
  const event = expect(
    await parent.POST("/v1/families/{family_id}/events", {
      params: { path: familyPath },
      body: { type: "birth", date: BORN, child_id: child.id, birth_weight_grams: 2980 },
    }),
    "recording the birth",
  );

  // 5. What the family must do now, and the reminders nonstop will send.
  const tasks = expect(await parent.GET("/v1/families/{family_id}/tasks", { params: { path: familyPath } }), "reading the tasks");
  const planned = expect(
    await parent.GET("/v1/families/{family_id}/planned-notifications", { params: { path: familyPath } }),
    "reading the planned reminders",
  );
  const procedures = new Set(tasks.map((task) => task.procedure_id));
  for (const needed of ["birth_registration", "child_allowance_claim"]) {
    if (!procedures.has(needed)) {
      fail(`the birth planned no ${needed} task (planned: ${[...procedures].sort().join(", ")})`);
    }
  }
  if (planned.length === 0) {
    fail("the birth planned no reminder");
  }

  // 6. The 児童手当 draft: pre-filled from the profile; the parent fills in the baby's name,
  // corrects the phone number and the consents, and confirms.
  const drafts = expect(await parent.GET("/v1/families/{family_id}/drafts", { params: { path: familyPath } }), "listing the drafts");
  const allowance =
    drafts.find((draft) => draft.form_id === "child_allowance_claim") ??
    fail(`no 児童手当 draft among ${drafts.map((draft) => draft.form_id).join(", ")}`);
  const draftPath = { family_id: family.id, draft_id: allowance.id };
  const opened = await parent.GET("/v1/families/{family_id}/drafts/{draft_id}", { params: { path: draftPath } });
  expect(opened, "opening the draft");
  // If-Match: should the vendor's backend have changed the draft since, the correction is
  // refused (412) instead of overwriting what the parent did not see.
  const version = opened.response.headers.get("ETag") ?? fail("the draft came without an ETag");
  const correction: Schemas["DraftPatch"] = {
    values: {
      "child.name": "山田 太郎",
      "child.kana": "ヤマダ タロウ",
      "applicant.phone": "090-1234-5678",
      "consent.public_records": true,
      "payment.use_public_account": true,
      // Registered with one guardian and nothing said of a marriage: nonstop does not guess a
      // spouse away, the parent answers.
      "spouse.exists": false,
    },
  };
  const correct = (ifMatch: string) =>
    parent.PATCH("/v1/families/{family_id}/drafts/{draft_id}", {
      params: { path: draftPath, header: { "If-Match": ifMatch } },
      body: correction,
    });
  const corrected = expect(await correct(version), "correcting the draft");
  if (corrected.to_fill.length > 0) {
    fail(`the draft still lacks ${corrected.to_fill.join(", ")}`);
  }
  // The same write with the version read before it is now a stale one: refused, by its code.
  const stale = await correct(version);
  if (stale.response.status !== 412 || stale.error?.error !== "precondition_failed") {
    fail(`a write with a stale If-Match was not refused: ${stale.response.status} ${JSON.stringify(stale.error)}`);
  }
  const confirmed = expect(
    await parent.POST("/v1/families/{family_id}/drafts/{draft_id}/confirm", { params: { path: draftPath } }),
    "confirming the draft",
  );
  if (confirmed.status !== "confirmed") {
    fail(`the draft is ${confirmed.status}, not confirmed`);
  }

  const firstTask = tasks[0] ?? fail("no task");
  const guardian = family.guardians[0] ?? fail("no guardian");
  console.log(
    JSON.stringify({
      family_id: family.id,
      child_id: child.id,
      guardian_id: guardian.id,
      device_id: device.id,
      event_id: event.id,
      task_id: firstTask.id,
      draft_id: confirmed.id,
      tasks: tasks.length,
      planned_notifications: planned.length,
    }),
  );
}

await main();
