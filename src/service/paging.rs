//! One way to page (issue 31): a list that can grow is read `limit` rows at a time after a
//! cursor, the id of the last row of the previous page; ids are UUIDv7, so id order is the
//! order of creation, and a row added meanwhile neither repeats nor hides another.

/// A limit that makes one page of a whole list, for the callers inside nonstop (the console,
/// the planner) that read a list bounded in practice through the same query as its pages.
pub const ALL: i64 = i64::MAX - 1;

/// The rows of one page and the cursor of the next: `rows` were read with `limit + 1`, so one
/// row beyond the page says whether another page follows.
pub fn cut<T>(mut rows: Vec<T>, limit: i64, id_of: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|row| id_of(row).to_owned());
    (rows, next)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_row_beyond_the_page_means_another_page() {
        let ids = |n: usize| (0..n).map(|i| format!("id{i}")).collect::<Vec<_>>();
        assert_eq!(super::cut(ids(3), 2, String::as_str), (ids(2), Some("id1".to_owned())));
        assert_eq!(super::cut(ids(2), 2, String::as_str), (ids(2), None));
        assert_eq!(super::cut(ids(0), 2, String::as_str), (ids(0), None));
    }
}
