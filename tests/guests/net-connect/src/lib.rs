//! Tries the network: config `url` sends an HTTP GET through `wasi:http`, config `tcp`
//! (`host:port`) opens a raw TCP connection through `wasi:sockets`. Pass when every attempt
//! succeeded, fail otherwise; details `http` and `tcp` say what happened to each.

use std::net::TcpStream;
use std::time::Duration;

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config, http};

struct NetConnect;

impl Plugin for NetConnect {
    fn describe() -> Description {
        Description::new(
            "net-connect",
            env!("CARGO_PKG_VERSION"),
            "Opens network connections",
        )
        .config(Key::optional("url", "URL to GET"))
        .config(Key::optional("tcp", "host:port to connect to"))
    }

    fn check() -> Result<CheckResult, String> {
        let url = config::get("url");
        let tcp = config::get("tcp");
        if url.is_none() && tcp.is_none() {
            return Err("set config value `url`, `tcp` or both".into());
        }
        let mut outcomes = Vec::new();
        if let Some(url) = url {
            outcomes.push((
                "http",
                http::get(&url, Duration::from_secs(5))
                    .map(|response| format!("status {}", response.status))
                    .map_err(|error| error.to_string()),
            ));
        }
        if let Some(address) = tcp {
            outcomes.push((
                "tcp",
                TcpStream::connect(&address)
                    .map(|_| "connected".to_string())
                    .map_err(|error| error.to_string()),
            ));
        }
        let failed = outcomes.iter().any(|(_, outcome)| outcome.is_err());
        let summary: Vec<String> = outcomes
            .iter()
            .map(|(kind, outcome)| match outcome {
                Ok(what) => format!("{kind}: {what}"),
                Err(error) => format!("{kind}: {error}"),
            })
            .collect();
        let mut result = if failed {
            CheckResult::fail(summary.join("; "))
        } else {
            CheckResult::pass(summary.join("; "))
        };
        for (kind, outcome) in outcomes {
            result = result.detail(kind, outcome.unwrap_or_else(|error| error));
        }
        Ok(result)
    }
}

vitals_guest::export!(NetConnect);
