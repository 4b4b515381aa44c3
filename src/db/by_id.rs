//! A text value chosen per row by the row's id, so that one `UPDATE` can write a different value
//! to each of many rows: `CASE <id> WHEN ? THEN ? … END` (no match gives `NULL`).
//!
//! Diesel does not cache prepared `UPDATE` statements, so an update per row pays a parse and a
//! plan each time; the delivery worker records a batch's provider message ids with this in a
//! few statements instead of one per delivery.

use diesel::backend::Backend;
use diesel::expression::{is_aggregate, AppearsOnTable, Expression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Nullable, Text};
use diesel::QueryResult;

/// `CASE <id_column> WHEN id THEN value … END`, of SQL type nullable text.
#[derive(Debug, Clone)]
pub struct TextById<C> {
    id_column: C,
    values: Vec<(String, String)>,
}

impl<C> TextById<C> {
    /// `values` pairs each row's id with its value; rows not listed get `NULL`.
    pub fn new(id_column: C, values: Vec<(String, String)>) -> Self {
        Self { id_column, values }
    }
}

impl<C> Expression for TextById<C> {
    type SqlType = Nullable<Text>;
}

impl<C, QS> AppearsOnTable<QS> for TextById<C> where C: AppearsOnTable<QS> {}

impl<C, GroupBy> ValidGrouping<GroupBy> for TextById<C> {
    type IsAggregate = is_aggregate::Never;
}

impl<C> QueryId for TextById<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, DB> QueryFragment<DB> for TextById<C>
where
    DB: Backend + HasSqlType<Text>,
    C: QueryFragment<DB>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // The SQL depends on how many values there are.
        out.unsafe_to_cache_prepared();
        if self.values.is_empty() {
            out.push_sql("NULL");
            return Ok(());
        }
        out.push_sql("CASE ");
        self.id_column.walk_ast(out.reborrow())?;
        for (id, value) in &self.values {
            out.push_sql(" WHEN ");
            out.push_bind_param::<Text, String>(id)?;
            out.push_sql(" THEN ");
            out.push_bind_param::<Text, String>(value)?;
        }
        out.push_sql(" END");
        Ok(())
    }
}
