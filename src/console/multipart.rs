//! `multipart/form-data` (RFC 7578), as a console form with a file sends it (the status form
//! with its decision document). Small on purpose: the whole body is read within a limit first,
//! then split at its boundary; each part is a name, perhaps a file name, and its bytes.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

/// One field of the form.
#[derive(Debug)]
pub struct Part {
    pub name: String,
    /// Present for a file (empty when no file was chosen).
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// A form body: `Ok(None)` when it was larger than `limit` (the rest is read and dropped, so
/// the browser sees the answer rather than a broken connection).
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Option<Vec<u8>>, actix_web::Error> {
    let mut body = Vec::new();
    let mut too_large = false;
    let mut seen = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        seen += chunk.len();
        // Beyond four times the limit the sender is not a browser uploading a document.
        if seen > limit.saturating_mul(4) {
            return Err(actix_web::error::ErrorPayloadTooLarge("the form is far larger than allowed"));
        }
        if seen > limit {
            too_large = true;
            body = Vec::new();
        } else {
            body.extend_from_slice(&chunk);
        }
    }
    Ok((!too_large).then_some(body))
}

/// The boundary of a `multipart/form-data` request, or `None` for any other body.
pub fn boundary(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mut parts = value.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// A parameter of `Content-Disposition` (`name="status"`).
fn parameter(disposition: &str, key: &str) -> Option<String> {
    disposition.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The parts of a body sent with `boundary`.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}").into_bytes();
    let next_delimiter = format!("\r\n--{boundary}").into_bytes();
    let mut at = find(body, &delimiter, 0).ok_or("no boundary in the form")? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(parts);
        }
        if body.get(at..at + 2) != Some(b"\r\n") {
            return Err("a broken form part".into());
        }
        let headers_end = find(body, b"\r\n\r\n", at).ok_or("a form part without its headers")?;
        let headers = String::from_utf8_lossy(&body[at + 2..headers_end]);
        let disposition = headers
            .split("\r\n")
            .find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim().eq_ignore_ascii_case("content-disposition").then(|| v.trim().to_owned())
            })
            .ok_or("a form part without its name")?;
        let name = parameter(&disposition, "name").ok_or("a form part without its name")?;
        let start = headers_end + 4;
        let end = find(body, &next_delimiter, start).ok_or("a form part without its end")?;
        parts.push(Part { name, filename: parameter(&disposition, "filename"), data: body[start..end].to_vec() });
        at = end + next_delimiter.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_with_a_file_splits_into_its_fields() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\naccepted\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"decision_document\"; filename=\"kettei.pdf\"\r\nContent-Type: application/pdf\r\n\r\n\
%PDF-1.7\r\n\x00\xff--X\r\n--XyZ--\r\n";
        let parts = parse(body, "XyZ").expect("parsed");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].data.as_slice(), &parts[0].filename),
            ("status", &b"accepted"[..], &None)
        );
        assert_eq!(parts[1].filename.as_deref(), Some("kettei.pdf"));
        assert_eq!(parts[1].data, b"%PDF-1.7\r\n\x00\xff--X");
        assert!(parse(b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "XyZ").is_err());
    }
}
