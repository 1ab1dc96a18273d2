//! The TARGET of the CLI contract, parsed once into one typed value:
//! `pid:PID`, `url:http://HOST:PORT[/PATH]`, `cgroup:PATH`,
//! `pod/NAME[/CONTAINER]`, `deploy/NAME`.

use crate::transport::Port;
use crate::Error;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where to capture from, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A process on this machine.
    Pid(u32),
    /// An HTTP endpoint: a Go program's root, or a snapshot endpoint in full.
    Url(Endpoint),
    /// A memory cgroup directory: its processes are the target.
    Cgroup(PathBuf),
    /// A pod, and optionally one of its containers.
    Pod {
        /// The pod's name.
        name: String,
        /// The container; the pod's only (or default) one when absent.
        container: Option<String>,
    },
    /// A deployment: one of its pods.
    Deployment {
        /// The deployment's name.
        name: String,
    },
}

impl Target {
    /// Whether the target is reached through the Kubernetes API.
    pub fn is_kubernetes(&self) -> bool {
        matches!(self, Target::Pod { .. } | Target::Deployment { .. })
    }
}

const GRAMMAR: &str =
    "use pid:PID, url:http://HOST:PORT[/PATH], cgroup:PATH, pod/NAME[/CONTAINER] or deploy/NAME";

impl FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::BadTarget(why);
        if let Some(p) = s.strip_prefix("pid:") {
            return p
                .parse()
                .map(Target::Pid)
                .map_err(|_| bad(format!("bad pid in {s:?}: {GRAMMAR}")));
        }
        if let Some(u) = s.strip_prefix("url:") {
            return Endpoint::parse_url(u).map(Target::Url);
        }
        if let Some(p) = s.strip_prefix("cgroup:") {
            if p.is_empty() {
                return Err(bad(format!("{s:?}: the cgroup path is missing")));
            }
            return Ok(Target::Cgroup(PathBuf::from(p)));
        }
        let name_ok = |n: &str| !n.is_empty() && !n.contains(':');
        if let Some(rest) = s.strip_prefix("pod/") {
            let (name, container) = match rest.split_once('/') {
                Some((n, c)) => (n, Some(c)),
                None => (rest, None),
            };
            if name_ok(name) && container.map_or(true, |c| name_ok(c) && !c.contains('/')) {
                return Ok(Target::Pod {
                    name: name.into(),
                    container: container.map(String::from),
                });
            }
            return Err(bad(format!(
                "bad pod target {s:?}: use pod/NAME or pod/NAME/CONTAINER"
            )));
        }
        if let Some(name) = s.strip_prefix("deploy/") {
            if name_ok(name) && !name.contains('/') {
                return Ok(Target::Deployment { name: name.into() });
            }
            return Err(bad(format!("bad deployment target {s:?}: use deploy/NAME")));
        }
        Err(bad(format!("bad target {s:?}: {GRAMMAR}")))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pid(p) => write!(f, "pid:{p}"),
            Target::Url(e) => write!(f, "url:{e}"),
            Target::Cgroup(p) => write!(f, "cgroup:{}", p.display()),
            Target::Pod {
                name,
                container: Some(c),
            } => write!(f, "pod/{name}/{c}"),
            Target::Pod { name, .. } => write!(f, "pod/{name}"),
            Target::Deployment { name } => write!(f, "deploy/{name}"),
        }
    }
}

/// A port of the target and a path on it (a prefix such as `/app` for a Go
/// program's `/app/debug/pprof/`, or an endpoint in full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The port.
    pub port: Port,
    /// The path, without a trailing `/`; empty for the root.
    pub path: String,
}

impl Endpoint {
    /// The root of `port`.
    pub fn root(port: Port) -> Self {
        Endpoint {
            port,
            path: String::new(),
        }
    }

    /// Parses `http://HOST[:PORT][/PATH]`. Only plain HTTP is spoken: these
    /// endpoints are debug ports, reached on loopback or through a tunnel.
    pub fn parse_url(url: &str) -> Result<Self, Error> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            Error::BadTarget(format!("url:{url}: only http:// URLs are supported"))
        })?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let port = if hostport.ends_with(']') || !hostport.contains(':') {
            Some(Port {
                host: hostport.into(),
                port: 80,
            })
            .filter(|p| !p.host.is_empty())
        } else {
            Port::parse(hostport)
        }
        .ok_or_else(|| Error::BadTarget(format!("url:{url}: expected http://HOST:PORT[/PATH]")))?;
        Ok(Endpoint {
            port,
            path: path.trim_end_matches('/').into(),
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.port, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_the_grammar_parses_and_prints_back() {
        for s in [
            "pid:42",
            "url:http://127.0.0.1:6060",
            "url:http://127.0.0.1:3000/debug/heapsnapshot",
            "url:http://[::1]:80/x",
            "cgroup:/sys/fs/cgroup/a",
            "pod/cart-7d9",
            "pod/cart-7d9/app",
            "deploy/cart",
        ] {
            let t: Target = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(t.to_string(), s);
        }
        assert!("pod/a".parse::<Target>().unwrap().is_kubernetes());
        let Target::Url(e) = "url:http://h:1/a/b/".parse().unwrap() else {
            panic!()
        };
        assert_eq!(
            (e.port.host.as_str(), e.port.port, e.path.as_str()),
            ("h", 1, "/a/b")
        );
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        for (s, want) in [
            ("pid:abc", "bad pid"),
            ("nothing", "bad target"),
            ("url:https://x", "only http://"),
            ("url:http://:1", "HOST:PORT"),
            ("pod/", "bad pod"),
            ("pod/a/b/c", "bad pod"),
            ("deploy/", "bad deployment"),
            ("cgroup:", "missing"),
        ] {
            let e = s.parse::<Target>().unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
