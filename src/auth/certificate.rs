//! Client certificates as login credentials (mutual TLS on FTPS and HTTPS).
//!
//! A listener with `tls.client_certificates` asks every client for a
//! certificate and verifies it against the configured CA bundle (rustls does
//! that; `required` refuses a handshake without one). What a verified
//! certificate means is decided here: a user whose `certificate.subject`
//! equals the certificate's subject
//!
//! - logs in with the certificate alone (`password: false`): FTP `USER name`
//!   answers `232` (RFC 2228: "authorized by security data exchange"), an
//!   HTTP request without `Authorization` is that user;
//! - or needs the certificate *and* the password (`password: true`).
//!
//! Either way, a user bound to a subject cannot log in without a certificate
//! of that subject — not with the right password over plain FTP, not from
//! another certificate.
//!
//! Subjects compare as sets of attributes (`CN`, `O`, `OU`, `C`, `L`, `ST`,
//! `emailAddress`, … or a dotted OID): the type without regard to case, the
//! value exactly; the order and the spaces after commas do not matter, so the
//! `openssl x509 -noout -subject` output (either style) can be pasted.

use std::fmt;

/// A distinguished name as a sorted list of `(TYPE, value)` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubjectName(Vec<(String, String)>);

/// Why a configured subject cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubjectError {
    /// Nothing in it.
    #[error("empty subject")]
    Empty,
    /// A part is not `TYPE=value`.
    #[error("`{0}` is not TYPE=value")]
    Part(String),
}

impl SubjectName {
    /// Parses `CN=scanner-01, O=Acme` (or the `/CN=…/O=…` style); `\,` and
    /// `\/` escape a separator inside a value.
    pub fn parse(text: &str) -> Result<SubjectName, SubjectError> {
        let text = text.trim();
        let slash_style = text.starts_with('/');
        let separator = if slash_style { '/' } else { ',' };
        let mut parts = Vec::new();
        let mut current = String::new();
        let mut escaped = false;
        for c in text.chars() {
            match c {
                _ if escaped => {
                    current.push(c);
                    escaped = false;
                }
                '\\' => escaped = true,
                c if c == separator || (!slash_style && c == '+') => parts.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        parts.push(current);
        let mut attributes = Vec::new();
        for part in parts {
            let part = part.trim();
            if part.is_empty() && slash_style {
                continue;
            }
            let Some((kind, value)) = part.split_once('=') else {
                return Err(SubjectError::Part(part.to_owned()));
            };
            let (kind, value) = (kind.trim(), value.trim());
            if kind.is_empty() || value.is_empty() {
                return Err(SubjectError::Part(part.to_owned()));
            }
            attributes.push((kind.to_ascii_uppercase(), value.to_owned()));
        }
        if attributes.is_empty() {
            return Err(SubjectError::Empty);
        }
        attributes.sort();
        Ok(SubjectName(attributes))
    }

    fn from_attributes(mut attributes: Vec<(String, String)>) -> SubjectName {
        attributes.sort();
        SubjectName(attributes)
    }
}

impl fmt::Display for SubjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (kind, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{kind}={}", value.replace(',', "\\,"))?;
        }
        Ok(())
    }
}

/// The verified certificate a client presented: what logins look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Its subject.
    pub subject: SubjectName,
}

impl ClientCertificate {
    /// Reads the subject of a DER certificate (one rustls has verified);
    /// `None` when it cannot be parsed.
    pub fn from_der(der: &[u8]) -> Option<ClientCertificate> {
        use x509_parser::prelude::FromDer;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
        let registry = x509_parser::objects::oid_registry();
        let attributes = cert
            .subject()
            .iter_attributes()
            .map(|a| {
                let kind = x509_parser::objects::oid2abbrev(a.attr_type(), registry)
                    .map_or_else(|_| a.attr_type().to_id_string(), str::to_owned);
                let value = a
                    .as_str()
                    .map_or_else(|_| String::from_utf8_lossy(a.as_slice()).into_owned(), str::to_owned);
                (kind.to_ascii_uppercase(), value)
            })
            .collect();
        Some(ClientCertificate {
            subject: SubjectName::from_attributes(attributes),
        })
    }
}

/// A user's binding to a certificate subject (`users[].certificate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateLogin {
    /// The subject the client's certificate must have.
    pub subject: SubjectName,
    /// The password is needed as well.
    pub password: bool,
}

impl CertificateLogin {
    /// Whether `presented` (the session's verified certificate, if any) satisfies the binding.
    pub fn accepts(&self, presented: Option<&ClientCertificate>) -> bool {
        presented.is_some_and(|c| c.subject == self.subject)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn subjects_compare_as_attribute_sets() {
        let a = SubjectName::parse("CN=scanner-01, O=Acme").unwrap();
        assert_eq!(a, SubjectName::parse("o=Acme,CN=scanner-01").unwrap());
        assert_eq!(a, SubjectName::parse("/O=Acme/CN=scanner-01").unwrap());
        assert_ne!(a, SubjectName::parse("CN=scanner-01").unwrap());
        assert_ne!(a, SubjectName::parse("CN=Scanner-01,O=Acme").unwrap());
        let escaped = SubjectName::parse(r"CN=Doe\, John,O=Acme").unwrap();
        assert_eq!(escaped.0[0], ("CN".to_owned(), "Doe, John".to_owned()));
        assert_eq!(SubjectName::parse(&escaped.to_string()).unwrap(), escaped);
    }

    #[test]
    fn bad_subjects_are_refused() {
        assert_eq!(SubjectName::parse("  "), Err(SubjectError::Part(String::new())));
        assert_eq!(SubjectName::parse("/"), Err(SubjectError::Empty));
        assert!(SubjectName::parse("scanner-01").is_err());
        assert!(SubjectName::parse("CN=").is_err());
        assert!(SubjectName::parse("CN=a,,O=b").is_err());
    }

    #[test]
    fn a_generated_certificate_reads_back() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "scanner-01");
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "Acme");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let read = ClientCertificate::from_der(cert.der()).unwrap();
        assert_eq!(read.subject, SubjectName::parse("CN=scanner-01,O=Acme").unwrap());
        let login = CertificateLogin {
            subject: read.subject.clone(),
            password: false,
        };
        assert!(login.accepts(Some(&read)));
        assert!(!login.accepts(None));
    }
}
