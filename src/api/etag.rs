//! `ETag` and `If-Match`: the vendor's backend and the parent's app may both correct a family,
//! and neither should overwrite what the other wrote without having seen it. Every successful
//! GET or PATCH answer carries the `ETag` of its body; a PATCH sent with `If-Match` applies only
//! if the resource still reads as that tag, checked inside the write's own transaction
//! (412 `precondition_failed` otherwise, and the change is rolled back). The tag is checked
//! after the body is: a body that is refused is named as such, whatever its tag.

use std::future::{ready, Ready};

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest};
use serde::Serialize;

use crate::error::Error;

/// The strong tag of a JSON body: part of its SHA-256, quoted.
pub fn tag_of(body: &[u8]) -> String {
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
    format!("\"{}\"", &digest[..32])
}

/// Tags successful GET and PATCH answers of the API with their body's `ETag`.
pub async fn tag_answers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let tagged = (req.method() == Method::GET || req.method() == Method::PATCH) && req.path().starts_with("/v1/");
    let response = next.call(req).await?;
    if !tagged || response.status() != StatusCode::OK {
        return Ok(response.map_into_boxed_body());
    }
    let (request, answer) = response.into_parts();
    let (mut head, answer_body) = answer.into_parts();
    let bytes = body::to_bytes(answer_body).await.map_err(|_| Error::internal("answer body unreadable"))?;
    if let Ok(value) = header::HeaderValue::from_str(&tag_of(&bytes)) {
        head.headers_mut().insert(header::ETAG, value);
    }
    Ok(ServiceResponse::new(request, head.set_body(BoxBody::new(bytes))))
}

/// The `If-Match` of a request, if it has one.
pub struct IfMatch(Option<String>);

impl IfMatch {
    /// `Ok` when no `If-Match` was sent, or `current` (the resource as its GET reads it now)
    /// still has one of the tags it names (`*`: any).
    pub fn check<T: Serialize>(&self, current: &T) -> Result<(), Error> {
        let Some(tags) = &self.0 else { return Ok(()) };
        let body = serde_json::to_vec(current).map_err(|e| Error::internal(format!("a view to tag: {e}")))?;
        let now = tag_of(&body);
        if tags.split(',').map(str::trim).any(|t| t == "*" || t == now) {
            Ok(())
        } else {
            Err(Error::PreconditionFailed(
                "the resource changed since the ETag given in If-Match: read it again and apply the change to what it says now",
            ))
        }
    }
}

impl FromRequest for IfMatch {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req.headers().get(header::IF_MATCH).map(|v| v.to_str().map(str::to_owned));
        ready(match value {
            None => Ok(Self(None)),
            Some(Ok(tags)) => Ok(Self(Some(tags))),
            Some(Err(_)) => Err(Error::InvalidBody {
                message: "If-Match: must be ETags as answered, or *".into(),
                fields: crate::error::FieldErrors::from([(
                    "If-Match".into(),
                    "must be ETags as answered, or *".into(),
                )]),
            }),
        })
    }
}

/// Documents `If-Match` and 412 on a PATCH that takes it.
pub fn document_if_match(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{Content, Ref, RefOr, Required, Response};
    let parameter = ParameterBuilder::new()
        .name("If-Match")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The `ETag` of this resource's GET (or of the last PATCH answer): the change applies only \
             if the resource has not changed since, else 412 `precondition_failed`. Without it the \
             change applies to whatever is stored.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).push(parameter);
    operation.responses.responses.entry("412".to_owned()).or_insert_with(|| {
        RefOr::T(
            Response::builder()
                .description("The resource changed since the ETag given in `If-Match`")
                .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
                .build(),
        )
    });
}

/// Documents the `ETag` of a successful GET or PATCH answer.
pub fn document_etag(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::RefOr;
    if let Some(RefOr::T(response)) = operation.responses.responses.get_mut("200") {
        response.headers.insert(
            "ETag".to_owned(),
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some("The tag of this body: send it as `If-Match` with a PATCH of the same resource"))
                .build(),
        );
    }
}
