//! 完了のお知らせ: what the page says after an act, so that each act is seen to have worked. A
//! form's answer redirects with `?done=<act>`; the next page's frame reads it (`Staff::flash`)
//! and the header's status line says it. Only the acts named here are said: the address cannot
//! make the console say anything else.

use super::i18n::{self, Lang};

/// The sentence for `done`, in `lang`; `None` for an act not named here.
pub fn message(lang: Lang, done: &str) -> Option<String> {
    let ja = match done {
        // お知らせ
        "created" => "下書きを保存しました。送信には、ほかの職員の承認が必要です。",
        "saved" => "変更を保存しました。下書きに戻りました。",
        "approved" => "承認しました。",
        "sent" => "送信しました。届いた数はこのページで見られます。",
        "scheduled" => "送信を予約しました。",
        "cancelled" => "お知らせを取り消しました。",
        // 申請
        "taken" => "担当になりました。",
        "released" => "担当を外しました。",
        "note" => "メモを残しました。",
        "status" => "状態を変えました。保護者に知らせます。",
        // 設定
        "closed_days" => "閉庁日を保存しました。住民の世帯の期限を計算し直します。",
        "procedure" => "手続の設定を保存しました。住民の世帯の予定を計算し直します。",
        "webhook" => "Webhook を設定しました。",
        // 職員・アカウント
        "unlocked" => "ロックを解除しました。",
        "two_step_reset" => "二要素認証を解除しました。",
        "password" => "パスワードを変更しました。",
        "two_step_on" => "二要素認証を有効にしました。",
        "two_step_off" => "二要素認証を無効にしました。",
        _ => return None,
    };
    Some(i18n::text(lang, ja))
}

/// `path` with `?done=<done>` (before any `#fragment`).
pub fn after(path: &str, done: &str) -> String {
    match path.split_once('#') {
        Some((page, fragment)) => format!("{page}?done={done}#{fragment}"),
        None => format!("{path}?done={done}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_act_named_here_is_said_and_nothing_else() {
        assert_eq!(message(Lang::Ja, "sent").as_deref(), Some("送信しました。届いた数はこのページで見られます。"));
        assert_eq!(message(Lang::En, "approved").as_deref(), Some("Approved."));
        assert_eq!(message(Lang::Ja, "<script>"), None);
        assert_eq!(
            after("/console/settings#webhook-heading", "webhook"),
            "/console/settings?done=webhook#webhook-heading"
        );
        assert_eq!(after("/console/notices/n1", "sent"), "/console/notices/n1?done=sent");
    }
}
