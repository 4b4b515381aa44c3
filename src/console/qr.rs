//! QRコード: the two-step enrolment's `otpauth://` URI drawn on the server, as SVG put inline in
//! the page (no script, no image request, nothing from elsewhere). The page also shows the key
//! as text, for a desk without a phone camera.

use crate::error::Error;

/// `text` as a QR code (error correction M), an `<svg>` element named `label` for assistive
/// technology. One unit of the drawing is one module, with the standard quiet zone of four;
/// the stylesheet gives its size.
pub fn svg(text: &str, label: &str) -> Result<String, Error> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Error::internal(format!("QR code: {e}")))?;
    let drawn = code.render::<qrcode::render::svg::Color<'_>>().module_dimensions(1, 1).quiet_zone(true).build();
    // The crate writes a standalone document; inline in HTML the element alone is wanted.
    let element = drawn.find("<svg").map_or(drawn.as_str(), |at| &drawn[at..]);
    let label = label.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    Ok(element.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{label}\" "), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dark modules of a drawing, read back from its path (`M{x} {y}h{w}v{h}H{x}V{y}`).
    fn dark_modules(svg: &str) -> std::collections::BTreeSet<(u32, u32)> {
        let path = svg.split(" d=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("a path");
        let mut dark = std::collections::BTreeSet::new();
        for rect in path.split('M').filter(|r| !r.is_empty()) {
            let numbers: Vec<u32> = rect
                .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
                .filter(|n| !n.is_empty())
                .map(|n| n.parse().expect("a number"))
                .collect();
            let [x, y, w, h, ..] = numbers[..] else { panic!("{rect}") };
            for dx in 0..w {
                for dy in 0..h {
                    dark.insert((x + dx, y + dy));
                }
            }
        }
        dark
    }

    #[test]
    fn the_drawing_is_the_qr_code_of_the_uri_module_for_module() {
        let uri = "otpauth://totp/nonstop:sato?secret=JBSWY3DPEHPK3PXP&issuer=nonstop";
        let drawn = svg(uri, "QR \"code\"").expect("drawn");
        assert!(drawn.starts_with("<svg role=\"img\" aria-label=\"QR &quot;code&quot;\" "), "{drawn}");
        assert!(!drawn.contains("<?xml"));
        // The same symbol the crate computes for the URI, with its quiet zone of four modules.
        let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).expect("code");
        let width = code.width() as u32;
        let expected: std::collections::BTreeSet<(u32, u32)> = code
            .to_colors()
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == qrcode::Color::Dark)
            .map(|(i, _)| (i as u32 % width + 4, i as u32 / width + 4))
            .collect();
        assert_eq!(dark_modules(&drawn), expected);
        assert!(drawn.contains(&format!("viewBox=\"0 0 {0} {0}\"", width + 8)), "{drawn}");
    }
}
