//! Examples in the OpenAPI document: real calls the test suite made, one per operation
//! (`openapi/examples.json`, picked by `openapi/record-examples`), so a vendor reads what the
//! server really says rather than what someone imagined it says.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::Modify;

/// The recorded calls, by operation id.
const RECORDED: &str = include_str!("../../openapi/examples.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub status: u16,
    pub request: Option<Value>,
    pub response: Option<Value>,
}

/// The examples compiled into the binary.
pub fn recorded() -> Result<BTreeMap<String, Example>, serde_json::Error> {
    serde_json::from_str(RECORDED)
}

/// Writes each operation's example request and its example response (under the status the
/// recorded call returned) into the document.
pub struct Examples;

impl Modify for Examples {
    fn modify(&self, doc: &mut Document) {
        // A test parses the file; a build that could not read it documents no examples.
        let examples = recorded().unwrap_or_default();
        for operation in super::operations_mut(doc) {
            let Some(example) = operation.operation_id.as_ref().and_then(|id| examples.get(id)) else { continue };
            if let (Some(request), Some(body)) = (&example.request, operation.request_body.as_mut()) {
                if let Some(content) = body.content.get_mut("application/json") {
                    content.example = Some(request.clone());
                }
            }
            if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(&example.status.to_string()) {
                if let (Some(value), Some(content)) = (&example.response, response.content.get_mut("application/json"))
                {
                    content.example = Some(value.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_recorded_examples_read() {
        let examples = super::recorded().expect("openapi/examples.json reads");
        assert!(examples.values().all(|e| (200..300).contains(&e.status)));
    }
}
