//! `Idempotency-Key` on the API's POSTs: a phone that lost its answer retries with the same key,
//! and gets the first answer again (`Idempotent-Replayed: true`) rather than a second family.
//! The rules (per credential, 24 h, one effect for concurrent duplicates) are in
//! `service::idempotency`; this middleware reads the header and the body and keeps the answer.

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use futures_util::StreamExt;

use crate::app::AppState;
use crate::error::{Error, FieldErrors};
use crate::service::idempotency::{self, Claim, Claimed};

/// The request header a caller names its attempt with.
pub const HEADER: &str = "Idempotency-Key";
/// The answer header saying an answer is the first one, sent again.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// The largest body read here; a larger one is the handler's to refuse (`extract`).
const BODY_LIMIT: usize = 256 * 1024;

pub async fn idempotent(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = req.headers().get(HEADER).map(|v| v.to_str().map(str::to_owned));
    let credential = super::extract::bearer(req.request());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(key), Some(credential), Some(state), true) =
        (key, credential, state, req.method() == Method::POST && req.path().starts_with("/v1/"))
    else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let key = match key.ok().filter(|k| well_formed(k)) {
        Some(key) => key,
        None => {
            let problem = format!("must be 1 to {} visible ASCII characters", idempotency::MAX_KEY_LENGTH);
            let error = Error::InvalidBody {
                message: format!("{HEADER}: {problem}"),
                fields: FieldErrors::from([(HEADER.to_owned(), problem)]),
            };
            return Ok(req.error_response(error));
        }
    };
    // The body stands in the key's claim, then goes on to the handler unchanged.
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() > BODY_LIMIT {
            break;
        }
    }
    let body = body.freeze();
    req.set_payload(body.clone().into());
    let mut request = format!("{} {}?{}\n", req.method(), req.path(), req.query_string()).into_bytes();
    request.extend_from_slice(&body);
    let claim = std::sync::Arc::new(Claim::new(&credential, &key, &request));

    let (keys, now) = (state.keys.clone(), state.clock.now());
    let claimed = {
        let (keys, claim) = (keys.clone(), claim.clone());
        state.db.write(move |conn| idempotency::claim(conn, &keys, &claim, now)).await
    };
    match claimed {
        Err(e) => Ok(req.error_response(e)),
        Ok(Claimed::InUse) => Ok(req.error_response(Error::Conflict {
            code: "idempotency_key_in_use",
            message: "a request with this Idempotency-Key is still running: retry shortly".into(),
        })),
        Ok(Claimed::OtherRequest) => Ok(req.error_response(Error::Refused {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for another request: use a new key for a new request".into(),
        })),
        Ok(Claimed::Replay { status, body }) => {
            let mut answer = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
            answer.insert_header((REPLAYED, "true"));
            let answer = match body {
                Some(body) => answer.content_type("application/json").body(body),
                None => answer.finish(),
            };
            Ok(req.into_response(answer))
        }
        Ok(Claimed::Fresh) => {
            let response = next.call(req).await;
            let (status, keep) = match &response {
                Ok(r) => (r.status(), r.status().is_success()),
                Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, false),
            };
            if !keep {
                let claim = claim.clone();
                state.db.write(move |conn| idempotency::give_back(conn, &claim)).await?;
                return response.map(ServiceResponse::map_into_boxed_body);
            }
            let (request, answer) = response?.into_parts();
            let (head, answer_body) = answer.into_parts();
            let bytes = body::to_bytes(answer_body).await.map_err(|_| Error::internal("answer body unreadable"))?;
            let text = (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
            let stored = state
                .db
                .write(move |conn| idempotency::keep(conn, &keys, &claim, status.as_u16(), text.as_deref()))
                .await;
            if let Err(e) = stored {
                // The act is done; only its replay is lost. A retry would then act again.
                tracing::error!(error = %e, "an idempotent answer could not be kept");
            }
            Ok(ServiceResponse::new(request, head.set_body(BoxBody::new(bytes))))
        }
    }
}

/// Documents the header on a POST operation, and on its successful answers the replay's header.
pub fn document(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{RefOr, Required};
    let key = ParameterBuilder::new()
        .name(HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: a retry with the same key and the same body (method, path and body) \
             within 24 hours gets the first successful answer again, with `Idempotent-Replayed: true`, \
             and acts no second time; the same key with another body is refused (422 \
             `idempotency_key_reused`); while the first request runs, a retry is refused (409 \
             `idempotency_key_in_use`). Keys are kept per credential. An answer that is not a success \
             is not kept: the request did nothing, and may be retried with the same key. Use a new \
             random key (a UUID) for each new request.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(idempotency::MAX_KEY_LENGTH))
                .pattern(Some("^[\\x21-\\x7e]+$")),
        ))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).push(key);
    for (status, response) in operation.responses.responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
            let replayed = HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"])))
                .description(Some("Present when this is the first answer to the `Idempotency-Key`, sent again"))
                .build();
            response.headers.insert(REPLAYED.to_owned(), replayed);
        }
    }
}

/// 1–255 visible ASCII characters (a UUID, usually).
fn well_formed(key: &str) -> bool {
    (1..=idempotency::MAX_KEY_LENGTH).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(super::well_formed("3f1c9a4e-8d2b-4c55-9e0f-1a2b3c4d5e6f"));
        assert!(!super::well_formed(""));
        assert!(!super::well_formed("two words"));
        assert!(!super::well_formed(&"k".repeat(256)));
    }
}
