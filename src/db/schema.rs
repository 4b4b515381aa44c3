//! Table definitions shared by both backends. Written by hand to match
//! `migrations/sqlite` and `migrations/postgres`; only portable column types are used.

diesel::table! {
    batch_runs (work, subject) {
        work -> Text,
        subject -> Text,
        started_at -> Timestamp,
        cursor -> Nullable<Text>,
        done_at -> Nullable<Timestamp>,
        owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One value sealed under each key the database has been served with (see `db::canary`).
    key_canaries (key_id) {
        key_id -> Text,
        sealed -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Text,
        action -> Text,
        target_kind -> Text,
        target_id -> Text,
        municipality_code -> Nullable<Text>,
        detail -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    apps (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    app_keys (id) {
        id -> Text,
        app_id -> Text,
        key_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff_members (id) {
        id -> Text,
        municipality_code -> Text,
        name -> Text,
        key_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        is_admin -> Bool,
    }
}

diesel::table! {
    families (id) {
        id -> Text,
        app_id -> Text,
        municipality_code -> Text,
        address -> Nullable<Text>,
        preferred_language -> Text,
        quiet_hours_start -> Integer,
        quiet_hours_end -> Integer,
        health_insurance -> Nullable<Text>,
        single_parent -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        circumstances -> Text,
        paperwork -> Nullable<Text>,
        postal_code_sealed -> Nullable<Text>,
    }
}

diesel::table! {
    guardians (id) {
        id -> Text,
        family_id -> Text,
        relationship -> Text,
        full_name -> Text,
        full_name_kana -> Nullable<Text>,
        phone -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        nationality -> Nullable<Text>,
        birth_date_sealed -> Nullable<Text>,
    }
}

diesel::table! {
    vaccinations (id) {
        id -> Text,
        family_id -> Text,
        child_id -> Text,
        procedure_id -> Text,
        given_on -> Date,
        created_at -> Timestamp,
        product -> Nullable<Text>,
    }
}

diesel::table! {
    children (id) {
        id -> Text,
        family_id -> Text,
        status -> Text,
        due_date -> Nullable<Date>,
        birth_date -> Nullable<Date>,
        full_name -> Nullable<Text>,
        full_name_kana -> Nullable<Text>,
        sex -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        birth_details -> Nullable<Text>,
        birth_weight_sealed -> Nullable<Text>,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        family_id -> Text,
        kind -> Text,
        token -> Text,
        token_hash -> Text,
        p256dh -> Nullable<Text>,
        auth_secret -> Nullable<Text>,
        apns_environment -> Nullable<Text>,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
    }
}

diesel::table! {
    life_events (id) {
        id -> Text,
        family_id -> Text,
        child_id -> Nullable<Text>,
        kind -> Text,
        occurred_on -> Date,
        details -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    parent_sessions (id) {
        id -> Text,
        family_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        app_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    tasks (id) {
        id -> Text,
        family_id -> Text,
        task_key -> Text,
        procedure_id -> Text,
        child_id -> Nullable<Text>,
        municipality_code -> Text,
        occurrence -> Integer,
        opens_on -> Date,
        closes_on -> Date,
        deadline_on -> Nullable<Date>,
        raw_deadline_on -> Nullable<Date>,
        reasons -> Text,
        status -> Text,
        status_changed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    planned_notifications (id) {
        id -> Text,
        family_id -> Text,
        task_id -> Text,
        notification_key -> Text,
        reminder_index -> Integer,
        local_date -> Date,
        send_at -> Timestamp,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    municipality_settings (municipality_code) {
        municipality_code -> Text,
        document -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    push_credentials (app_id, provider) {
        app_id -> Text,
        provider -> Text,
        secret -> Text,
        public_info -> Text,
        config_error -> Nullable<Text>,
        config_error_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    inbox_entries (id) {
        id -> Text,
        family_id -> Text,
        dedupe_key -> Text,
        kind -> Text,
        template_id -> Text,
        language -> Text,
        title -> Text,
        body -> Text,
        inbox_text -> Text,
        task_id -> Nullable<Text>,
        urgency -> Text,
        collapse_key -> Nullable<Text>,
        recorded_at -> Timestamp,
        expires_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Text,
        entry_id -> Text,
        device_id -> Text,
        provider -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        provider_message_id -> Nullable<Text>,
        due_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    scheduled_jobs (dedupe_key) {
        dedupe_key -> Text,
        name -> Text,
        scheduled_for -> Timestamp,
        status -> Text,
        lease_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notice_approvals (id) {
        id -> Text,
        notice_id -> Text,
        staff_id -> Text,
        digest -> Text,
        approved_at -> Timestamp,
        contents -> Nullable<Text>,
    }
}

diesel::table! {
    notice_versions (notice_id, digest) {
        notice_id -> Text,
        digest -> Text,
        contents -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    notices (id) {
        id -> Text,
        municipality_code -> Text,
        category -> Text,
        content -> Text,
        audience -> Text,
        status -> Text,
        author_staff_id -> Text,
        approver_staff_id -> Nullable<Text>,
        approved_at -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        send_at -> Nullable<Timestamp>,
        standing -> Bool,
        editors -> Text,
    }
}

diesel::table! {
    notice_replies (notice_id, family_id) {
        notice_id -> Text,
        family_id -> Text,
        choices -> Text,
        free_text -> Nullable<Text>,
        replied_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    notice_consents (family_id, municipality_code) {
        family_id -> Text,
        municipality_code -> Text,
        consented -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    notice_recipients (notice_id, family_id) {
        notice_id -> Text,
        family_id -> Text,
        entry_id -> Nullable<Text>,
        needs_paper -> Bool,
    }
}

diesel::table! {
    draft_bundles (id) {
        id -> Text,
        family_id -> Text,
        kind -> Text,
        child_id -> Text,
        status -> Text,
        document -> Nullable<Text>,
        digest -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    drafts (id) {
        id -> Text,
        family_id -> Text,
        draft_key -> Text,
        form_id -> Text,
        form_version -> Integer,
        task_id -> Nullable<Text>,
        child_id -> Nullable<Text>,
        bundle_id -> Nullable<Text>,
        status -> Text,
        content -> Text,
        corrects_submission_id -> Nullable<Text>,
        document -> Nullable<Text>,
        digest -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    signatures (id) {
        id -> Text,
        family_id -> Text,
        signed_document -> Text,
        signed_digest -> Text,
        signature_value -> Text,
        certificate -> Text,
        certificate_sha256 -> Text,
        signer_guardian_id -> Text,
        verification -> Text,
        created_at -> Timestamp,
        signer_match -> Text,
        holder_name -> Nullable<Text>,
    }
}

diesel::table! {
    submissions (id) {
        id -> Text,
        family_id -> Text,
        signature_id -> Text,
        draft_id -> Text,
        bundle_id -> Nullable<Text>,
        municipality_code -> Text,
        form_id -> Text,
        form_version -> Integer,
        task_id -> Nullable<Text>,
        corrects_submission_id -> Nullable<Text>,
        document -> Text,
        digest -> Text,
        status -> Text,
        submitted_at -> Timestamp,
        status_changed_at -> Timestamp,
        family_deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    submission_desk (submission_id) {
        submission_id -> Text,
        municipality_code -> Text,
        reference_number -> Text,
        assigned_staff_id -> Nullable<Text>,
    }
}

diesel::table! {
    submission_notes (id) {
        id -> Text,
        submission_id -> Text,
        staff_id -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    submission_counters (municipality_code, year) {
        municipality_code -> Text,
        year -> Integer,
        last_number -> Integer,
    }
}

diesel::table! {
    submission_decision_documents (id) {
        id -> Text,
        submission_id -> Text,
        event_id -> Text,
        document -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    submission_events (id) {
        id -> Text,
        submission_id -> Text,
        status -> Text,
        comments -> Nullable<Text>,
        staff_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    registered_certificates (guardian_id, certificate_sha256) {
        guardian_id -> Text,
        certificate_sha256 -> Text,
        family_id -> Text,
        registered_at -> Timestamp,
    }
}

diesel::table! {
    municipal_webhooks (municipality_code) {
        municipality_code -> Text,
        url -> Text,
        secret -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        municipality_code -> Text,
        event_key -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    app_webhooks (app_id) {
        app_id -> Text,
        url -> Text,
        secret -> Text,
        kinds -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    app_event_deliveries (id) {
        id -> Text,
        app_id -> Text,
        kind -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(app_keys -> apps (app_id));
diesel::joinable!(notice_recipients -> notices (notice_id));
diesel::joinable!(deliveries -> inbox_entries (entry_id));
diesel::joinable!(deliveries -> devices (device_id));
diesel::table! {
    standing_consents (id) {
        id -> Text,
        family_id -> Text,
        purpose -> Text,
        language -> Text,
        wording -> Text,
        given_at -> Timestamp,
        withdrawn_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff_logins (staff_id) {
        staff_id -> Text,
        login -> Text,
        password_hash -> Text,
        must_change_password -> Bool,
        created_at -> Timestamp,
        totp_secret -> Nullable<Text>,
        totp_last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    idempotency_keys (id) {
        id -> Text,
        request_digest -> Text,
        status -> Nullable<Integer>,
        response -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sign_in_attempts (id) {
        id -> Text,
        login_digest -> Text,
        failures -> Integer,
        locked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    console_sessions (id) {
        id -> Text,
        staff_id -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(inbox_entries -> families (family_id));
diesel::joinable!(staff_logins -> staff_members (staff_id));
diesel::joinable!(console_sessions -> staff_members (staff_id));
diesel::joinable!(tasks -> families (family_id));
diesel::joinable!(notice_versions -> notices (notice_id));
diesel::joinable!(submissions -> signatures (signature_id));
diesel::joinable!(submission_events -> submissions (submission_id));
diesel::joinable!(submission_notes -> submissions (submission_id));
diesel::joinable!(submission_decision_documents -> submissions (submission_id));
diesel::joinable!(submission_desk -> submissions (submission_id));
diesel::joinable!(planned_notifications -> tasks (task_id));
diesel::joinable!(families -> apps (app_id));
diesel::joinable!(guardians -> families (family_id));
diesel::joinable!(children -> families (family_id));
diesel::joinable!(vaccinations -> children (child_id));
diesel::joinable!(devices -> families (family_id));
diesel::joinable!(life_events -> families (family_id));
diesel::joinable!(parent_sessions -> families (family_id));

diesel::allow_tables_to_appear_in_same_query!(
    app_webhooks,
    app_event_deliveries,
    audit_events,
    submission_counters,
    submission_desk,
    submission_notes,
    submission_decision_documents,
    apps,
    app_keys,
    staff_members,
    families,
    guardians,
    children,
    vaccinations,
    devices,
    life_events,
    parent_sessions,
    tasks,
    planned_notifications,
    municipality_settings,
    push_credentials,
    inbox_entries,
    deliveries,
    scheduled_jobs,
    notice_approvals,
    notice_versions,
    batch_runs,
    notices,
    notice_consents,
    standing_consents,
    staff_logins,
    console_sessions,
    sign_in_attempts,
    idempotency_keys,
    notice_recipients,
    notice_replies,
    draft_bundles,
    drafts,
    signatures,
    submissions,
    submission_events,
    registered_certificates,
    municipal_webhooks,
    webhook_deliveries,
    key_canaries,
);
