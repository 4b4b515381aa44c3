//! The API's paths and the methods each takes, read from the OpenAPI document the routes are
//! built from: an unknown method on a known path answers 405 with `Allow` (RFC 9110 §15.5.6),
//! not 404.

/// One segment of a path template: a fixed word, or a `{parameter}`.
#[derive(Debug, PartialEq)]
enum Segment {
    Fixed(String),
    Parameter,
}

/// Every documented path, with its methods.
#[derive(Debug, Default)]
pub struct KnownPaths {
    paths: Vec<(Vec<Segment>, Vec<String>)>,
}

impl KnownPaths {
    /// From the OpenAPI document's `paths`.
    pub fn from_document(document: &utoipa::openapi::OpenApi) -> Self {
        let paths = document
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template
                    .split('/')
                    .map(|part| {
                        if part.starts_with('{') && part.ends_with('}') {
                            Segment::Parameter
                        } else {
                            Segment::Fixed(part.to_owned())
                        }
                    })
                    .collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(method, _)| method.to_owned())
                .collect();
                (segments, methods)
            })
            .collect();
        Self { paths }
    }

    /// The methods `path` takes, when it is one of the API's paths.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .find(|(segments, _)| {
                segments.len() == parts.len()
                    && segments.iter().zip(&parts).all(|(segment, part)| match segment {
                        Segment::Fixed(word) => word == part,
                        Segment::Parameter => !part.is_empty(),
                    })
            })
            .map(|(_, methods)| methods.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_path_names_its_methods() {
        let known = KnownPaths::from_document(&crate::api::openapi());
        assert_eq!(known.allowed("/v1/app/keys").as_deref(), Some("GET, POST"));
        assert!(known.allowed("/v1/families/abc").is_some_and(|m| m.contains("PATCH")));
        assert_eq!(known.allowed("/v1/nothing"), None);
        assert_eq!(known.allowed("/v1/families//tasks"), None, "an empty id is no id");
    }
}
