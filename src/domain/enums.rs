//! The closed sets of values the family profile uses.

use crate::text_enum;

text_enum! {
    /// 健康保険の種類: which public health insurance covers the household.
    pub enum HealthInsurance {
        /// 国民健康保険 (国保): run by the municipality; a newborn must be enrolled there.
        National => "national",
        /// 被用者保険 (健保・共済): through an employer; a newborn is added as 被扶養者.
        Employee => "employee",
    }
}

text_enum! {
    /// ワクチンの製品: where a vaccine's products differ in doses and window (ロタウイルス: ロタリックス
    /// 2 doses by 出生24週0日後, ロタテック 3 doses by 出生32週0日後), the product a dose was given
    /// with. A series keeps its product throughout.
    pub enum VaccineProduct {
        /// ロタリックス (1価, monovalent): 2 doses.
        Rotarix => "rotarix",
        /// ロタテック (5価, pentavalent): 3 doses.
        Rotateq => "rotateq",
    }
}

text_enum! {
    /// 続柄: the guardian's relationship to the children.
    pub enum Relationship {
        Mother => "mother",
        Father => "father",
        /// Another legal guardian (祖父母, 未成年後見人, …).
        Other => "other",
    }
}

text_enum! {
    /// Whether the child is expected (出産予定) or born, or, recorded only by a life event,
    /// that the pregnancy ended without a live birth (流産・死産) or that the child died.
    pub enum ChildStatus {
        Expected => "expected",
        Born => "born",
        /// 流産・死産: the pregnancy ended (a `pregnancy_ended` event).
        PregnancyEnded => "pregnancy_ended",
        /// 死亡: the child died (a `child_died` event).
        Died => "died",
    }
}

impl ChildStatus {
    /// Whether nothing about this child may reach the family any more: no reminder, no push,
    /// no notice by age. Only what the loss itself asks of the family is planned (death
    /// registration, the payments that still apply), about the household, not the child.
    pub fn withdrawn(self) -> bool {
        matches!(self, Self::PregnancyEnded | Self::Died)
    }

    /// The stored values of the withdrawn statuses, for queries.
    pub const WITHDRAWN: [&'static str; 2] = ["pregnancy_ended", "died"];
}

text_enum! {
    /// 性別, as the birth registration (出生届) records it.
    pub enum Sex {
        Female => "female",
        Male => "male",
    }
}

text_enum! {
    /// 父母との続き柄 on the 出生届: whether the child was born to parents married to each other
    /// (嫡出子) or not (嫡出でない子). Asked only for that form, never guessed from the guardians.
    pub enum Legitimacy {
        /// 嫡出子.
        BornInMarriage => "born_in_marriage",
        /// 嫡出でない子.
        BornOutsideMarriage => "born_outside_marriage",
    }
}

text_enum! {
    /// 世帯のおもな仕事 when the child was born, the six classes of the 出生届 (人口動態調査).
    pub enum HouseholdMainWork {
        /// 1 農業だけまたは農業とその他の仕事を持っている世帯.
        Farming => "farming",
        /// 2 自由業・商工業・サービス業等を個人で経営している世帯.
        SelfEmployed => "self_employed",
        /// 3 企業・個人商店等（官公庁は除く）の常用勤労者世帯で勤め先の従業者数が1人から99人まで.
        EmployeeSmallEmployer => "employee_small_employer",
        /// 4 3にあてはまらない常用勤労者世帯及び会社団体の役員の世帯.
        EmployeeOther => "employee_other",
        /// 5 1から4にあてはまらないその他の仕事をしている者のいる世帯.
        OtherWork => "other_work",
        /// 6 仕事をしている者のいない世帯.
        NoOneWorking => "no_one_working",
    }
}

text_enum! {
    /// What a standing consent (同意) allows, asked once and reused by every form that needs it.
    pub enum ConsentPurpose {
        /// 公簿等の確認: the municipality may check tax and pension records for a 児童手当 claim
        /// instead of asking for certificates.
        PublicRecordsCheck => "public_records_check",
        /// 要配慮個人情報 (個人情報保護法 第2条第3項, 第20条第2項): nonstop may keep the child's
        /// health information (birth weight, weeks of gestation) to prepare the filings that ask
        /// it. Withdrawing it erases what was kept.
        HealthInformation => "health_information",
    }
}

text_enum! {
    /// The push service a device is reached through.
    pub enum DeviceKind {
        /// Web Push (RFC 8030) with VAPID and aes128gcm.
        WebPush => "web_push",
        /// Apple Push Notification service.
        Apns => "apns",
        /// Firebase Cloud Messaging (HTTP v1).
        Fcm => "fcm",
    }
}

text_enum! {
    /// The APNs environment a device token belongs to.
    pub enum ApnsEnvironment {
        Production => "production",
        Sandbox => "sandbox",
    }
}

text_enum! {
    /// ライフイベント: something that happened to the family and changes what it must do.
    pub enum LifeEventKind {
        /// 妊娠: a pregnancy was confirmed; an expected child is added.
        Pregnancy => "pregnancy",
        /// 出生: an expected child was born (or a birth is recorded directly).
        Birth => "birth",
        /// 転居・転入: the family moved, possibly to another municipality.
        Moved => "moved",
        /// The household's health insurance changed (e.g. 国保 ↔ 被用者保険).
        HealthInsuranceChanged => "health_insurance_changed",
        /// ひとり親: the household became, or stopped being, a single-parent household.
        SingleParentChanged => "single_parent_changed",
        /// 流産・死産: an expected child's pregnancy ended without a live birth.
        PregnancyEnded => "pregnancy_ended",
        /// 死亡: a born child died.
        ChildDied => "child_died",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_round_trips_and_unknown_text_is_an_error() {
        for kind in LifeEventKind::ALL {
            assert_eq!(LifeEventKind::from_stored(kind.as_str()).ok(), Some(*kind));
        }
        assert_eq!(serde_json::to_string(&DeviceKind::WebPush).ok().as_deref(), Some("\"web_push\""));
        assert!(HealthInsurance::from_stored("kokuho").is_err());
        for status in ChildStatus::ALL {
            assert_eq!(status.withdrawn(), ChildStatus::WITHDRAWN.contains(&status.as_str()), "{status:?}");
        }
    }
}
