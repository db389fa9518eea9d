//! Just enough X.509 to read a certificate's subjectAltName: PEM armour,
//! base64 and DER's tag-length-value walk. rmqgen checks the names a
//! certificate covers offline against the plan; a full X.509 parser (and
//! a dependency) would buy nothing more for that.

use std::net::IpAddr;

/// The names a certificate's subjectAltName extension lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AltNames {
    /// dNSName entries, lower-cased.
    pub dns: Vec<String>,
    /// iPAddress entries.
    pub ip: Vec<IpAddr>,
}

/// The first certificate of a PEM file (or DER bytes), its alt names.
pub fn alt_names(bytes: &[u8]) -> Result<AltNames, String> {
    let der = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN CERTIFICATE-----") => pem_certificate(text)?,
        _ => bytes.to_vec(),
    };
    let (cert, _) = tlv(&der, 0x30)?;
    let (tbs, _) = tlv(cert, 0x30)?;
    let mut rest = tbs;
    // version [0] (optional), serial, signature, issuer, validity,
    // subject, subjectPublicKeyInfo, [1], [2], then extensions [3].
    while !rest.is_empty() {
        let (tag, value, next) = any(rest)?;
        rest = next;
        if tag != 0xa3 {
            continue;
        }
        let (exts, _) = tlv(value, 0x30)?;
        let mut exts = exts;
        while !exts.is_empty() {
            let (ext, next) = tlv(exts, 0x30)?;
            exts = next;
            let (oid, mut fields) = tlv(ext, 0x06)?;
            // 2.5.29.17, subjectAltName.
            if oid != [0x55, 0x1d, 0x11] {
                continue;
            }
            if fields.first() == Some(&0x01) {
                fields = tlv(fields, 0x01)?.1; // critical
            }
            let (octets, _) = tlv(fields, 0x04)?;
            let (mut names, _) = tlv(octets, 0x30)?;
            let mut out = AltNames::default();
            while !names.is_empty() {
                let (tag, value, next) = any(names)?;
                names = next;
                match (tag, value.len()) {
                    (0x82, _) => out
                        .dns
                        .push(String::from_utf8_lossy(value).to_ascii_lowercase()),
                    (0x87, 4) => out
                        .ip
                        .push(IpAddr::from([value[0], value[1], value[2], value[3]])),
                    (0x87, 16) => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(value);
                        out.ip.push(IpAddr::from(a));
                    }
                    _ => {}
                }
            }
            return Ok(out);
        }
    }
    Ok(AltNames::default())
}

/// The DER of the first `CERTIFICATE` block.
fn pem_certificate(text: &str) -> Result<Vec<u8>, String> {
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .ok_or("no certificate")?
        + "-----BEGIN CERTIFICATE-----".len();
    let end = text[start..]
        .find("-----END CERTIFICATE-----")
        .ok_or("a certificate without its END line")?;
    base64(&text[start..start + end])
}

fn base64(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return Err("the PEM block is not base64".into()),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// One DER element: (tag, value, what follows).
fn any(der: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let short = || "a truncated DER element".to_string();
    let (&tag, rest) = der.split_first().ok_or_else(short)?;
    let (&first, rest) = rest.split_first().ok_or_else(short)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("an unsupported DER length".into());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(short());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// One DER element of tag `want`: (value, what follows).
fn tlv(der: &[u8], want: u8) -> Result<(&[u8], &[u8]), String> {
    let (tag, value, rest) = any(der)?;
    if tag != want {
        return Err(format!("expected DER tag {want:#04x}, found {tag:#04x}"));
    }
    Ok((value, rest))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A certificate made by `openssl req -x509 -subj /CN=mq-1 -addext
    /// "subjectAltName=DNS:mq-1,DNS:*.mq.example.internal,IP:10.0.0.11,IP:::1"`
    /// (with a critical basicConstraints and keyUsage before and after the
    /// extension). Public; its key was thrown away.
    pub(crate) const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIByDCCAW2gAwIBAgIUHtX5r93ve+L1sbCsyliL8/IZTfgwCgYIKoZIzj0EAwIw\nDzENMAsGA1UEAwwEbXEtMTAgFw0yNjEyMDYxMjU4MjBaGA8yMTI2MTExMjEyNTgy\nMFowDzENMAsGA1UEAwwEbXEtMTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABBFX\ngO85Yq0LzSf6ZG9iGo8yCqKUEPXx01SBKFkl2Pw7W4A6mcAQqlPQSUq08TygPKaq\nBWHQPoR1pbDBqNPikuejgaQwgaEwHQYDVR0OBBYEFKbYh3WZAOwq4RQKUzRRV/Z9\nD4IWMB8GA1UdIwQYMBaAFKbYh3WZAOwq4RQKUzRRV/Z9D4IWMA8GA1UdEwEB/wQF\nMAMBAf8wPgYDVR0RBDcwNYIEbXEtMYIVKi5tcS5leGFtcGxlLmludGVybmFshwQK\nAAALhxAAAAAAAAAAAAAAAAAAAAABMA4GA1UdDwEB/wQEAwIHgDAKBggqhkjOPQQD\nAgNJADBGAiEAs/MAORG3nEbGotRPUr2tmxeSJ9EuGeVgvoVe9LCYyIcCIQCeQHU6\nuCRsxDmHNKjsghSTvsZcTK8YY3ZyOB42p8VG6g==\n-----END CERTIFICATE-----\n";

    #[test]
    fn reads_the_subject_alt_names() {
        let alt = alt_names(CERT.as_bytes()).expect("parses");
        assert_eq!(alt.dns, ["mq-1", "*.mq.example.internal"]);
        assert_eq!(
            alt.ip,
            [
                IpAddr::from([10, 0, 0, 11]),
                "::1".parse::<IpAddr>().expect("an address")
            ]
        );
        // DER reads the same.
        let start = CERT.find('\n').expect("a BEGIN line") + 1;
        let end = CERT.find("-----END").expect("an END line");
        let der = base64(&CERT[start..end]).expect("base64");
        assert_eq!(alt_names(&der).expect("DER parses"), alt);
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert!(alt_names(b"").is_err());
        assert!(
            alt_names(b"-----BEGIN CERTIFICATE-----\n%%\n-----END CERTIFICATE-----\n").is_err()
        );
        let truncated = &CERT[..CERT.len() / 2];
        assert!(alt_names(format!("{truncated}\n-----END CERTIFICATE-----").as_bytes()).is_err());
    }
}
