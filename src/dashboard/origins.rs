//! The browser origins allowed to call the gRPC listener through gRPC-Web:
//! the dashboard's own, derived from the address `--http-listen` is bound to,
//! and any given with `--dashboard-origin`.
//!
//! An origin is what a browser sends in its `Origin` header:
//! `scheme://host[:port]`, lowercase, without the port when it is the
//! scheme's default (80 for http, 443 for https), and never with a path.

use std::net::{IpAddr, SocketAddr};

/// The origins of a dashboard served on `listen` (its bound address, so a
/// port of 0 has been replaced by the real one). A loopback or unspecified
/// address (`0.0.0.0`, `::`) is also reached as `localhost`; an unspecified
/// one also through the loopback addresses. A dashboard on `0.0.0.0` that is
/// reached through another host name needs that name in `--dashboard-origin`,
/// since the server cannot know its names.
pub fn derived(listen: SocketAddr, tls: bool) -> Vec<String> {
    let scheme = if tls { "https" } else { "http" };
    let port = listen.port();
    let mut hosts: Vec<String> = Vec::new();
    let ip = listen.ip();
    if ip.is_unspecified() {
        hosts.extend(["127.0.0.1".into(), "[::1]".into(), "localhost".into()]);
    } else {
        hosts.push(host_of(ip));
        if ip.is_loopback() {
            hosts.push("localhost".into());
        }
    }
    hosts
        .into_iter()
        .map(|host| serialize(scheme, &host, Some(port)))
        .collect()
}

/// Checks and normalises an origin given by an operator
/// (`https://dash.example.com`, `http://10.0.0.5:8080`); the error says
/// what is wrong with it.
pub fn parse(text: &str) -> Result<String, String> {
    let invalid = |why: &str| format!("--dashboard-origin {text:?}: {why}");
    let uri: http::Uri = text
        .trim()
        .parse()
        .map_err(|_| invalid("not an origin such as https://dash.example.com:8443"))?;
    let scheme = match uri.scheme_str() {
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => "http",
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => "https",
        Some(_) => return Err(invalid("the scheme must be http or https")),
        None => return Err(invalid("needs a scheme, http:// or https://")),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| invalid("needs a host name"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("an origin has no user name"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(invalid(
            "an origin has no path or query, only scheme://host[:port]",
        ));
    }
    if authority.host().is_empty() {
        return Err(invalid("needs a host name"));
    }
    Ok(serialize(
        scheme,
        &authority.host().to_ascii_lowercase(),
        authority.port_u16(),
    ))
}

fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// As a browser writes it: the scheme's default port is left out.
fn serialize(scheme: &str, host: &str, port: Option<u16>) -> String {
    let default = if scheme == "https" { 443 } else { 80 };
    match port {
        Some(port) if port != default => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_dashboard_is_also_localhost() {
        assert_eq!(
            derived("127.0.0.1:8080".parse().unwrap(), false),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        assert_eq!(
            derived("[::1]:8443".parse().unwrap(), true),
            ["https://[::1]:8443", "https://localhost:8443"]
        );
    }

    #[test]
    fn an_unspecified_address_allows_loopback_names_only() {
        assert_eq!(
            derived("0.0.0.0:80".parse().unwrap(), false),
            ["http://127.0.0.1", "http://[::1]", "http://localhost"]
        );
        assert_eq!(
            derived("10.1.2.3:443".parse().unwrap(), true),
            ["https://10.1.2.3"]
        );
    }

    #[test]
    fn given_origins_are_normalised_as_browsers_send_them() {
        assert_eq!(
            parse("https://Dash.Example.com:443/").unwrap(),
            "https://dash.example.com"
        );
        assert_eq!(
            parse(" http://10.0.0.5:8080 ").unwrap(),
            "http://10.0.0.5:8080"
        );
        assert_eq!(parse("http://[::1]:80").unwrap(), "http://[::1]");
        for (bad, why) in [
            ("dash.example.com", "scheme"),
            ("ftp://dash.example.com", "http or https"),
            ("https://dash.example.com/page", "no path"),
            ("https://dash.example.com?x=1", "no path or query"),
            ("https://user@dash.example.com", "user name"),
            ("", "not an origin"),
        ] {
            let error = parse(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
